"""Backing up now in a real browser: the click queues the backup, a worker process runs it, and the page
follows its progress without a reload. The dashboard's screenshot is taken here."""

from __future__ import annotations

import os
import shutil
import time

from backups.models import Backup
from tests.support import connect_account
from tests.support.browser import ARTIFACTS, BROWSER_TEST, README_IMAGES, sign_in, worker

pytestmark = BROWSER_TEST

SCREENSHOT = ARTIFACTS / "dashboard.png"
README_SCREENSHOT = README_IMAGES / "dashboard.png"

READ_ROW = """body => {
    const bar = body.querySelector("progress");
    const card = body.closest("section.account");  // null for a moment while the row is replaced
    const summary = card ? card.querySelector("[data-last-backup-of]") : null;
    return [body.dataset.status, Number(body.dataset.done), Number(body.dataset.total),
            bar && bar.hasAttribute("value") ? bar.value : null, bar ? bar.max : null,
            summary ? summary.textContent : null];
}"""


def watch(row, seconds: float = 90) -> list[tuple]:
    """(status, categories done, categories total, the bar's value, the bar's max, the card's "Last backup"
    line) of the row, read every 0.2 s until the backup ends."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(tuple(row.evaluate(READ_ROW)))
        if seen[-1][0] in ("success", "failed"):
            break
        time.sleep(0.2)
    return seen


def test_back_up_now_runs_in_the_background_with_live_progress(page, trakt, alice, monkeypatch, tmp_path):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # this test's web server queues; the worker process runs it
    account = connect_account(trakt, "alice-trakt", alice, profile="small")
    trakt.set_latency(0.2)  # a few seconds of backing up, to watch (on a busy machine too)
    sign_in(page, "alice")
    card = page.locator(f"#account-{account.pk}")
    card.locator("[data-action=backup-now]").click()
    page.wait_for_url("**/#account-*")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    row = card.locator("tbody.backup").first
    assert row.get_attribute("data-status") == "queued"  # no worker yet: the click only queued it

    with worker(trakt, tmp_path / "worker.log"):
        seen = watch(row)
        assert seen[-1][0] == "success", (seen, (tmp_path / "worker.log").read_text()[-3000:])
    running = [(value, top) for status, done, total, value, top, _ in seen if status == "running" and total]
    assert running and all(value is not None for value, _ in running), seen  # a bar while it runs
    assert any(0 < value < top for value, top in running), seen  # that moved, without a reload
    done, total = seen[-1][1:3]
    assert total > 0 and done == total  # and reached the end
    summaries = {summary.rsplit("): ", 1)[-1].split(",")[0].strip(" .\n") for status, *_, summary in seen
                 if status == "running" and total and summary}
    assert summaries == {"running"}, seen  # the card's "Last backup" line agrees with the row while it runs
    assert page.evaluate("window.sameDocument === true")
    backup = Backup.objects.get(account=account)
    assert (backup.status, backup.trigger) == (Backup.Status.SUCCESS, Backup.Trigger.MANUAL)
    assert row.locator("a.download").is_visible()
    assert f"{backup.total_items:,} items" in row.inner_text()
    assert "succeeded" in card.locator(f"[data-last-backup-of='{backup.pk}']").inner_text()

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOT))
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(SCREENSHOT, README_SCREENSHOT)
    assert SCREENSHOT.stat().st_size < 400_000
