"""Disconnecting an account: the dashboard and the admin go through one service (services/disconnect.py),
which revokes the grant at trakt, removes the schedules and, when asked, deletes the archives."""

from __future__ import annotations

import pytest
from django_q.models import Schedule

from backups import storage
from backups.models import Account, Backup
from backups.services import schedules
from backups.services.backup_run import run_backup
from tests.support import connect_account, page_text, signed_in

pytestmark = pytest.mark.django_db

REVOKE = r"^/oauth/revoke$"


@pytest.fixture
def backed_up(trakt, alice):
    """alice's trakt account, connected, with one archive in the storage."""
    account = connect_account(trakt, "alice-trakt", alice)
    backup = run_backup(account)
    assert backup.status == Backup.Status.SUCCESS, backup.error
    assert storage.exists(backup.archive_key)
    return account, backup.archive_key


def account_schedules(account: Account) -> int:
    names = [schedules.backup_schedule_name(account), schedules.refresh_schedule_name(account)]
    return Schedule.objects.filter(name__in=names).count()


def test_deleting_an_account_in_the_admin_revokes_it_and_deletes_its_archives(trakt, alice, backed_up):
    account, archive_key = backed_up
    response = signed_in(alice).post(f"/admin/backups/account/{account.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert trakt.count(REVOKE, method="POST", status=200) == 1
    assert not storage.exists(archive_key)
    assert not Account.objects.filter(pk=account.pk).exists()
    assert account_schedules(account) == 0


def test_deleting_accounts_in_bulk_in_the_admin_revokes_each_one(trakt, alice, backed_up):
    account, archive_key = backed_up
    other = connect_account(trakt, "other-trakt", alice)
    response = signed_in(alice).post("/admin/backups/account/", {
        "action": "delete_selected", "_selected_action": [account.pk, other.pk], "post": "yes",
    })
    assert response.status_code == 302
    assert trakt.count(REVOKE, method="POST", status=200) == 2
    assert not storage.exists(archive_key)
    assert not Account.objects.exists()


def test_the_admin_refuses_to_delete_an_account_being_backed_up(trakt, alice, backed_up):
    account, archive_key = backed_up
    Backup.objects.create(account=account, status=Backup.Status.RUNNING)
    client = signed_in(alice)
    page = page_text(client.get(f"/admin/backups/account/{account.pk}/delete/").content.decode())
    assert "a backup is under way" in page
    client.post(f"/admin/backups/account/{account.pk}/delete/", {"post": "yes"})
    assert Account.objects.filter(pk=account.pk).exists()
    assert trakt.count(REVOKE) == 0 and storage.exists(archive_key)


def test_disconnecting_on_the_dashboard_and_keeping_the_archives(trakt, alice, backed_up):
    account, archive_key = backed_up
    response = signed_in(alice).post(f"/accounts/{account.pk}/disconnect/", {"archives": "keep"})
    assert response.status_code == 302
    assert trakt.count(REVOKE, method="POST", status=200) == 1
    account.refresh_from_db()
    assert account.status == Account.Status.DISCONNECTED and not account.refresh_token
    assert storage.exists(archive_key) and account_schedules(account) == 0
