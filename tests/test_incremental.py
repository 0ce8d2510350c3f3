"""Incremental backups: few requests, and always the same content as a full backup at that moment."""

from __future__ import annotations

import tarfile
import time

import pytest

from django.core.files.base import ContentFile

from backups import storage
from backups.models import Backup
from backups.services.backup_run import run_backup
from tests.conftest import connect_account

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


def test_ten_new_plays_take_at_most_five_requests(account, trakt):
    backup_now(account, full=True)
    trakt.add_plays("alice", 10)
    trakt.reset_log()
    incremental = backup_now(account)
    assert incremental.requests_made <= 5, [r["path"] for r in trakt.requests]
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
    with storage.open_archive(first.archive_key) as handle:
        data = bytearray(handle.read())
    data[len(data) // 2] ^= 0xFF
    storage.delete(first.archive_key)
    storage.storage().save(first.archive_key, ContentFile(bytes(data)))
    second = backup_now(account)
    assert manifest(second)["incremental"] is False or all(
        e["source"] != "carried_over" for e in manifest(second)["files"].values())
    assert_same_as_full(account, second)
