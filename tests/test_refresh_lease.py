"""Token refresh under a lease: no database lock while trakt answers, one refresh per grant, margins that
follow the token's lifetime. Real threads with their own database connections, against the emulator."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from backups.models import Account, Backup
from backups.services.backup_run import run_backup
from backups.services.grants import account_client, refresh_grant
from backups.tasks import refresh_check
from tests.support import connect_account, in_thread, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_PATH = r"^/oauth/token$"


def refreshes_sent(trakt) -> int:
    return trakt.count(path_regex=TOKEN_PATH, method="POST")


def test_a_slow_refresh_does_not_block_another_accounts_backup(trakt, admin_user):
    slow = connect_account(trakt, "slow", admin_user, profile="tiny")
    other = connect_account(trakt, "other", admin_user, profile="tiny")
    held = trakt.inject("timeout", path=TOKEN_PATH, method="POST", host="auth", seconds=4)
    with ThreadPoolExecutor(1) as pool:
        refreshing = pool.submit(in_thread(lambda: refresh_grant(Account.objects.get(pk=slow.pk), force=True)))
        wait_for(lambda: held.fired, 10, "trakt to receive the refresh")  # and sit on it
        backup = run_backup(Account.objects.get(pk=other.pk))
        assert not refreshing.done(), "the backup's writes waited for the refresh to end"
        assert refreshing.result(timeout=30) is True
    close_old_connections()
    assert backup.status == Backup.Status.SUCCESS, backup.error


@pytest.mark.parametrize("why", ["stale token", "near expiry"])
def test_two_refreshes_of_one_grant_at_once_send_one_refresh(trakt, admin_user, why):
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    Account.objects.filter(pk=account.pk).update(token_expires_at=timezone.now() + timedelta(minutes=1))
    trakt.reset_log()
    trakt.inject("timeout", path=TOKEN_PATH, method="POST", host="auth", seconds=1)  # both are under way at once
    start = threading.Barrier(2)

    @in_thread
    def refresh(_):
        mine = Account.objects.get(pk=account.pk)
        start.wait(timeout=10)
        if why == "stale token":
            return refresh_grant(mine, stale_access_token=account.access_token), mine.access_token
        return refresh_grant(mine), mine.access_token

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(refresh, range(2)))
    close_old_connections()
    assert sorted(refreshed for refreshed, _ in results) == [False, True]
    assert refreshes_sent(trakt) == 1
    assert trakt.stats()["family_kills"] == 0
    account.refresh_from_db()
    assert {token for _, token in results} == {account.access_token}
    assert account.is_connected and account.refresh_lease_until is None


def test_the_lease_of_a_refresh_whose_process_died_is_taken_over_once_expired(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    Account.objects.filter(pk=account.pk).update(refresh_lease_owner="gone-host:4242:dead",
                                                 refresh_lease_until=timezone.now() - timedelta(seconds=1))
    trakt.reset_log()
    assert refresh_grant(account, force=True) is True
    assert refreshes_sent(trakt) == 1
    account.refresh_from_db()
    assert account.refresh_lease_owner == "" and account.is_connected


def let_time_pass(trakt, account: Account, seconds: float) -> None:
    """Both clocks move on: the emulator's, and the app's view of the token (its expiry comes nearer)."""
    trakt.advance_clock(seconds)
    account.refresh_from_db(fields=["token_expires_at"])
    account.token_expires_at -= timedelta(seconds=seconds)
    Account.objects.filter(pk=account.pk).update(token_expires_at=account.token_expires_at)


def test_a_token_issued_for_a_minute_is_refreshed_about_once_a_minute(trakt, admin_user):
    trakt.set_token_lifetime(60)
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    assert account.token_lifetime == 60
    trakt.reset_log()
    client = account_client(account)
    for _ in range(180):  # three minutes, a request a second
        client.get_json("/users/settings")
        let_time_pass(trakt, account, 1)
    # refreshed when a quarter of its minute is left: every 45 seconds, not before every request
    assert 180 // 60 <= refreshes_sent(trakt) <= 180 // 45
    assert trakt.count(status=401) == 0


def test_the_hourly_check_uses_the_margin_of_the_tokens_lifetime(trakt, admin_user):
    trakt.set_token_lifetime(60)
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    trakt.reset_log()
    assert refresh_check(account.pk) == "still valid"
    let_time_pass(trakt, account, 50)
    assert refresh_check(account.pk) == "refreshed"
    assert refreshes_sent(trakt) == 1
