"""Restoring from the dashboard (a worker runs it: here the queue runs it within the request)."""

from __future__ import annotations

import pytest

from backups.models import Backup, Restore
from backups.services.backup_run import run_backup
from tests.support import connect_account, find, find_all, page_text, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def backup(trakt, alice):
    account = connect_account(trakt, "alice-trakt", alice, profile="tiny")
    backup = run_backup(account)
    for play in trakt.user_data("alice-trakt")["/sync/history"][:5]:  # a bad sync
        trakt.remove_history_item("alice-trakt", play["id"])
    return backup


def test_a_backup_row_offers_a_restore_to_its_owner_only(backup, alice_client, charlie):
    row = find(alice_client.get("/"), f"#backup-{backup.pk}")
    assert find(row, "a.restore")["href"] == f"/backups/{backup.pk}/restore/"
    staff = signed_in(charlie)  # staff may read the account's page, never restore into it
    assert not find_all(staff.get(f"/accounts/{backup.account.pk}/"), "a.restore")
    assert staff.get(f"/backups/{backup.pk}/restore/").status_code == 404
    assert staff.post(f"/backups/{backup.pk}/restore/").status_code == 404
    assert not Restore.objects.exists()


def test_the_plan_then_the_confirmation_writes_only_what_is_missing(trakt, backup, alice_client):
    page = alice_client.get(f"/backups/{backup.pk}/restore/")
    assert "nothing is removed from trakt" in page_text(page)
    trakt.reset_log()
    response = alice_client.post(f"/backups/{backup.pk}/restore/")
    planned = Restore.objects.get()
    assert response["Location"] == f"/restores/{planned.pk}/"
    assert planned.status == Restore.Status.PLANNED and trakt.count(method="POST", host="api") == 0
    page = alice_client.get(response["Location"])
    history = find(page, "tbody[data-category=sync/history]")
    assert find(history, "td[data-label=Missing]").text == "5"
    assert find(history, "input[name=category]").get("checked") is not None
    assert "users/comments" not in page_text(page) and "Comments and replies" in page_text(page)  # not restorable

    response = alice_client.post(f"/restores/{planned.pk}/apply", {"category": ["sync/history", "bogus"]},
                                 follow=True)
    restore = Restore.objects.exclude(pk=planned.pk).get()
    assert (restore.status, restore.only) == (Restore.Status.SUCCESS, ["sync/history"])
    assert restore.categories["sync/history"]["added"] == 5 and list(restore.categories) == ["sync/history"]
    assert "Everything restorable was restored" in page_text(response)
    again = run_backup(backup.account)
    assert again.item_counts["sync/history"] == backup.item_counts["sync/history"]
    assert restore.safety_backup.pinned and restore.safety_backup.trigger == Backup.Trigger.RESTORE


def test_confirming_nothing_is_refused_with_a_sentence(backup, alice_client):
    alice_client.post(f"/backups/{backup.pk}/restore/")
    planned = Restore.objects.get()
    response = alice_client.post(f"/restores/{planned.pk}/apply", {}, follow=True)
    assert "Choose at least one category to restore." in find(response, ".messages").text
    assert Restore.objects.count() == 1


def test_another_users_restore_is_a_404(backup, alice_client, bob_client):
    alice_client.post(f"/backups/{backup.pk}/restore/")
    planned = Restore.objects.get()
    assert alice_client.get(f"/restores/{planned.pk}/status").json()["status"] == "planned"
    for url in (f"/restores/{planned.pk}/", f"/restores/{planned.pk}/status"):
        assert bob_client.get(url).status_code == 404
    assert bob_client.post(f"/restores/{planned.pk}/apply", {"category": "sync/history"}).status_code == 404
    assert Restore.objects.count() == 1
