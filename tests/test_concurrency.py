"""Concurrency: many accounts backed up at once, many refreshes of one account at once, one backup per account.

Real threads, each with its own database connection, against the emulator; nothing is serialized by the test.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import close_old_connections

from backups.models import Account, AuthEvent, Backup
from backups.services.backup_run import BackupAlreadyRunning, run_backup, start_backup
from backups.services.grants import account_client, refresh_grant
from tests.support import archive_copy, assert_archive_matches, connect_account, in_thread

pytestmark = pytest.mark.django_db(transaction=True)


def test_ten_accounts_backed_up_at_once_each_get_a_complete_archive(trakt, admin_user, settings, tmp_path):
    names = [f"user{n:02d}" for n in range(10)]
    for n, name in enumerate(names):
        connect_account(trakt, name, admin_user, profile="tiny", sizes={"history": 300 + 50 * n})
    trakt.set_latency(0.01)
    start = threading.Barrier(5)

    @in_thread
    def back_up(name: str) -> int:
        if name in names[:5]:
            start.wait(timeout=30)  # the first five start at the same instant
        return run_backup(Account.objects.get(username=name)).pk

    with ThreadPoolExecutor(5) as pool:  # five workers for ten accounts
        pks = list(pool.map(back_up, names))
    close_old_connections()
    for pk, name in zip(pks, names):
        backup = Backup.objects.get(pk=pk)
        assert backup.status == Backup.Status.SUCCESS, f"{name}: {backup.error}"
        manifest = assert_archive_matches(archive_copy(backup.archive_key, tmp_path / "copies"), trakt, name)
        assert manifest["files"]["sync/history.json"]["items"] == len(trakt.user_data(name)["/sync/history"])
    assert len({Backup.objects.get(pk=pk).archive_key for pk in pks}) == 10
    leftovers = [p for p in Path(settings.ARCHIVE_DIR).rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert not leftovers


def test_simultaneous_refreshes_of_one_account_send_one_refresh(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    stale = account.access_token
    trakt.reset_log()
    trakt.set_latency(0.3)  # every thread holds the stale token while the one refresh is under way
    start = threading.Barrier(8)

    @in_thread
    def refresh(_):
        mine = Account.objects.get(pk=account.pk)
        start.wait(timeout=30)
        refreshed = refresh_grant(mine, stale_access_token=stale)
        return refreshed, mine.access_token, mine.refresh_token

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(refresh, range(8)))
    trakt.set_latency(0)
    close_old_connections()
    assert sum(refreshed for refreshed, _, _ in results) == 1, "not exactly one thread refreshed"
    assert trakt.count(path_regex=r"^/oauth/token$", method="POST") == 1
    assert trakt.stats()["family_kills"] == 0 and trakt.stats()["refresh_failures"] == 0
    tokens = {(access, refresh) for _, access, refresh in results}
    assert len(tokens) == 1 and stale not in tokens.pop()
    account.refresh_from_db()
    assert account.is_connected and account.access_token != stale
    assert account.auth_events.filter(kind=AuthEvent.Kind.REFRESH, ok=True).count() == 1
    assert account_client(account).get_json("/users/settings")["user"]["username"] == "alice"  # it works


def test_one_backup_per_account_even_when_asked_at_once(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    start = threading.Barrier(6)

    @in_thread
    def claim(_):
        start.wait(timeout=30)
        try:
            return start_backup(Account.objects.get(pk=account.pk)).pk
        except BackupAlreadyRunning as exc:
            return str(exc)

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(claim, range(6)))
    close_old_connections()
    claimed = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, str)]
    assert len(claimed) == 1 and len(refused) == 5
    assert all("already under way" in message for message in refused)
    assert Backup.objects.filter(account=account).count() == 1
