"""Incremental backups: few requests, and always the same content as a full backup at that moment."""

from __future__ import annotations

import tarfile
import time

import pytest


from backups import storage
from backups.models import Backup
from backups.services.backup_run import run_backup
from tests.support import connect_account, damage_archive

pytestmark = pytest.mark.django_db(transaction=True)


def members(backup) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=storage.open_archive(backup.archive_key)) as tar:
        for member in tar:
            if member.isfile() and not member.name.endswith("/manifest.json"):
                out[member.name.split("/", 1)[1]] = tar.extractfile(member).read()
    return out


def manifest(backup) -> dict:
    import json

    with tarfile.open(fileobj=storage.open_archive(backup.archive_key)) as tar:
        for member in tar:
            if member.name.endswith("/manifest.json"):
                return json.load(tar.extractfile(member))


@pytest.fixture
def account(trakt, admin_user, settings):
    settings.DEDUP_IDENTICAL_BACKUPS = False
    return connect_account(trakt, "alice", admin_user, profile="small")


def backup_now(account, **kwargs) -> Backup:
    time.sleep(1.05)  # archive names carry the second
    backup = run_backup(account, **kwargs)
    assert backup.status == Backup.Status.SUCCESS, backup.error
    return backup


def assert_same_as_full(account, incremental: Backup) -> None:
    full = backup_now(account, full=True)
    assert manifest(full)["incremental"] is False
    assert members(incremental) == members(full), "the incremental archive differs from a full one"


def test_full_backup_makes_exactly_the_minimum_requests(account, trakt):
    trakt.reset_log()
    backup = backup_now(account)
    served = [r for r in trakt.requests if r["host"] == "api"]
    pages = sum(entry.get("pages", 1) for entry in manifest(backup)["files"].values())
    skipped = len(manifest(backup)["skipped"])
    assert backup.requests_made == len(served) == pages + skipped
    assert all(r["status"] != 429 for r in served)


def test_nothing_changed_takes_at_most_three_requests(account, trakt):
    backup_now(account, full=True)
    trakt.reset_log()
    incremental = backup_now(account)
    assert incremental.requests_made <= 3, [r["path"] for r in trakt.requests]
    sources = {entry["source"] for entry in manifest(incremental)["files"].values()}
    assert "carried_over" in sources
    assert manifest(incremental)["incremental"] is True
    assert_same_as_full(account, incremental)


def test_ten_new_plays_take_at_most_seven_requests(account, trakt):
    backup_now(account, full=True)
    trakt.add_plays("alice", 10)
    trakt.reset_log()
    incremental = backup_now(account)
    # activities, the history's new top, the watched lists' merges, the stats; and what has no activity, read
    # every time: the progress resets and the one shared list's items
    assert incremental.requests_made <= 7, [r["path"] for r in trakt.requests]
    assert manifest(incremental)["files"]["sync/history.json"]["source"] == "incremental"
    assert_same_as_full(account, incremental)


def test_a_removed_play_fetches_the_history_again(account, trakt):
    first = backup_now(account, full=True)
    history = trakt.user_data("alice")["/sync/history"]
    trakt.remove_history_item("alice", history[len(history) // 2]["id"])
    incremental = backup_now(account)
    assert manifest(incremental)["files"]["sync/history.json"]["source"] == "fetched"
    assert incremental.item_counts["sync/history"] == first.item_counts["sync/history"] - 1
    assert_same_as_full(account, incremental)


def test_many_changes_at_once_still_match_a_full_backup(account, trakt):
    backup_now(account, full=True)
    trakt.add_plays("alice", 300)  # more than a page of new plays
    incremental = backup_now(account)
    assert_same_as_full(account, incremental)


def test_a_damaged_previous_archive_means_a_full_backup(account, trakt, settings):
    first = backup_now(account, full=True)
    damage_archive(first.archive_key)
    second = backup_now(account)
    assert manifest(second)["incremental"] is False
    assert_same_as_full(account, second)


def test_a_removal_and_a_back_dated_play_together_still_match_a_full_backup(account, trakt):
    """The item count alone cannot tell: one play removed and one back-dated play added."""
    import requests

    backup_now(account, full=True)
    history = trakt.user_data("alice")["/sync/history"]
    trakt.remove_history_item("alice", history[len(history) // 3]["id"])
    movie = next(item["movie"] for item in history if item["type"] == "movie")
    token = trakt.grant("alice")["access_token"]
    response = requests.post(
        f"{trakt.api_url}/sync/history", json={"movies": [{"ids": {"trakt": movie["ids"]["trakt"]},
                                                           "watched_at": "2015-06-01T20:00:00.000Z"}]},
        headers={"trakt-api-key": "test-client-id", "trakt-api-version": "2", "User-Agent": "test",
                 "Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 201, response.text
    incremental = backup_now(account)
    assert manifest(incremental)["files"]["sync/history.json"]["source"] == "fetched"
    assert_same_as_full(account, incremental)


def test_carried_lists_keep_their_counts_and_raise_no_drop_alert(account, trakt):
    from django.core import mail

    first = backup_now(account, full=True)
    mail.outbox.clear()
    second = backup_now(account)
    assert manifest(second)["incremental"] is True
    assert second.item_counts == first.item_counts
    assert not mail.outbox
    first.refresh_from_db()
    assert not first.pinned


def test_a_damaged_previous_archive_is_never_the_target_of_dedup(account, trakt, settings):
    settings.DEDUP_IDENTICAL_BACKUPS = True
    first = backup_now(account, full=True)
    damage_archive(first.archive_key)
    second = backup_now(account)  # same content at trakt: would be "identical" to the damaged one
    assert second.same_as_id is None and second.archive_name != first.archive_name
    assert storage.exists(second.archive_key)
    first.refresh_from_db()
    assert first.verify_ok is False


def test_a_renamed_trakt_account_keeps_its_old_archives(account, trakt):
    from backups.models import Account
    from backups.services import retention

    first = backup_now(account, full=True)
    Account.objects.filter(pk=account.pk).update(username="alice-renamed", slug="alice-renamed")
    account.refresh_from_db()
    second = backup_now(account)
    retention.prune(account)
    first.refresh_from_db()
    assert storage.exists(first.archive_key) and first.archive_key.startswith("alice/")
    assert second.archive_key.startswith("alice-renamed/")
