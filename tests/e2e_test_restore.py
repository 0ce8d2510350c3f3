"""Restoring in a real browser: the plan from a backup's row, the confirmation, live progress, the result; a
real worker process runs both the plan and the restore."""

from __future__ import annotations

from backups.models import Restore
from backups.services.backup_run import run_backup
from tests.support import connect_account
from tests.support.browser import BROWSER_TEST, sign_in, worker

pytestmark = BROWSER_TEST


def test_restore_from_the_backups_row(page, trakt, alice, monkeypatch, tmp_path):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # the web server queues; the worker process runs it
    account = connect_account(trakt, "alice-trakt", alice, profile="tiny")
    backup = run_backup(account)
    ratings = trakt.user_data("alice-trakt")["/sync/ratings/movies"]
    trakt.state.serve_write("alice-trakt", "POST", "/sync/ratings/remove",
                            {"movies": [{"ids": r["movie"]["ids"]} for r in ratings]})  # a bad sync
    for play in trakt.user_data("alice-trakt")["/sync/history"][:3]:
        trakt.remove_history_item("alice-trakt", play["id"])
    sign_in(page, "alice")
    with worker(trakt, tmp_path / "worker.log"):
        page.locator(f"#backup-{backup.pk} a.restore").click()
        page.locator("[data-action=make-plan]").click()
        page.wait_for_selector(".restore[data-status=planned]", timeout=60_000)  # it polled its way there
        movies = page.locator("tbody[data-category='sync/ratings/movies']")
        assert movies.locator("td[data-label=Missing]").inner_text() == str(len(ratings))
        assert "First missing:" in movies.inner_text()
        page.locator("tbody[data-category='sync/history'] input[name=category]").uncheck()
        page.locator("[data-action=confirm-restore]").click()
        page.wait_for_selector(".restore[data-status=success]", timeout=60_000)
    assert "Everything restorable was restored" in page.inner_text(".restore")
    assert page.locator("tbody[data-category='sync/ratings/movies'] td[data-label=Added]").inner_text() == \
        str(len(ratings))
    assert not page.locator("tbody[data-category='sync/history']").count()  # left out, as chosen
    restored = Restore.objects.latest("created")
    assert restored.only == sorted(restored.categories) and "sync/history" not in restored.only
    assert len(trakt.user_data("alice-trakt")["/sync/ratings/movies"]) == len(ratings)
    assert len(trakt.user_data("alice-trakt")["/sync/history"]) == backup.item_counts["sync/history"] - 3
