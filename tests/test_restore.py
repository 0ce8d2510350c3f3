"""Restoring a backup into its trakt account, against the emulator, as a user runs it (`manage.py trakt_restore`).

The account is backed up, then a bad sync wipes part of it (written straight into the emulator's state, as
another app would through trakt); the restore puts back only what is missing, and a fresh backup then holds
the same media as the original, compared by media after what trakt assigns anew (history ids, ranks,
``listed_at``) is left out.
"""

from __future__ import annotations

import json
import os
import random
import signal
from collections import Counter

import pytest

from backups.models import Backup, Restore
from backups.services.backup_run import BackupAlreadyRunning, run_backup, start_backup
from backups.services.restore_plan import second
from backups.services.restore_run import RestoreError, start_restore
from tests.support import app_env, archive_copy, connect_account, killed_midway, manage, read_archive

pytestmark = pytest.mark.django_db(transaction=True)

RESTORED = ("sync/history", "sync/ratings/movies", "sync/watchlist", "sync/favorites", "sync/collection/movies",
            "users/notes")


def media(item: dict) -> tuple:
    kind = item.get("type") or next(k for k in ("movie", "show", "season", "episode") if k in item)
    return kind, item[kind]["ids"]["trakt"]


def comparable(files: dict, file: str) -> Counter:
    """A category's items by media, with what trakt keeps of them (and nothing it assigns anew)."""
    items = files[f"{file}.json"]
    if file == "sync/history":
        return Counter((media(i), second(i["watched_at"])) for i in items)
    if file.startswith("sync/ratings"):
        return Counter((media(i), i["rating"]) for i in items)
    if file == "sync/collection/movies":
        return Counter((media(i), second(i["collected_at"])) for i in items)
    if file == "users/notes":
        return Counter((media(i["item"]), i["notes"], i["privacy"], i["spoiler"]) for i in items)
    return Counter(media(i) for i in items)


def lists_of(files: dict) -> dict[str, Counter]:
    return {entry["name"]: Counter(media(i) for i in files[f"users/lists/{entry['ids']['trakt']}/items.json"])
            for entry in files["users/lists.json"]}


def wipe(trakt, username: str, files: dict, rng: random.Random) -> None:
    """A bad sync: 40% of the plays from random places, the movie ratings, the watchlist, the collected movies,
    the favorites, two whole lists and half of the third; and the notes."""
    write = trakt.state.serve_write
    for note in files["users/notes.json"]:
        write(username, "DELETE", f"/notes/{note['id']}", {})
    for play in rng.sample(files["sync/history.json"], k=len(files["sync/history.json"]) * 2 // 5):
        trakt.remove_history_item(username, play["id"])
    for file, path in (("sync/ratings/movies", "/sync/ratings/remove"), ("sync/watchlist", "/sync/watchlist/remove"),
                       ("sync/collection/movies", "/sync/collection/remove"),
                       ("sync/favorites", "/sync/favorites/remove")):
        body: dict = {}
        for item in files[f"{file}.json"]:
            kind = media(item)[0]
            body.setdefault(kind + "s", []).append({"ids": item[kind]["ids"]})
        write(username, "POST", path, body)
    lists = files["users/lists.json"]
    for entry in lists[:2]:
        write(username, "DELETE", f"/users/me/lists/{entry['ids']['trakt']}", {})
    third = lists[2]["ids"]["trakt"]
    items = files[f"users/lists/{third}/items.json"]
    body = {}
    for item in items[: len(items) // 2]:
        kind = media(item)[0]
        body.setdefault(kind + "s", []).append({"ids": item[kind]["ids"]})
    write(username, "POST", f"/users/me/lists/{third}/items/remove", body)


def restore(trakt, *args: str, **options):
    return manage("trakt_restore", "-u", "alice", *args, emulator=trakt, **options)


def json_result(result) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_wiped_account_is_restored_and_a_second_restore_writes_nothing(trakt, admin_user, tmp_path):
    account = connect_account(trakt, "alice", admin_user, profile="small", vip=True)
    original = run_backup(account)
    _, before = read_archive(archive_copy(original.archive_key, tmp_path / "original"))
    assert all(before[f"{file}.json"] for file in RESTORED)  # something to lose in every category
    wipe(trakt, "alice", before, random.Random(7))

    dry = restore(trakt, "--dry-run", "--format", "json")
    assert dry.returncode == 0, dry.stderr
    planned = json_result(dry)["categories"]
    assert planned["sync/history"]["missing"] == len(before["sync/history.json"]) * 2 // 5
    assert planned["users/lists"]["missing"] == 2 and not any(c["added"] for c in planned.values())
    assert trakt.count(method="POST", host="api") == 0  # the dry run wrote nothing

    trakt.reset_log()
    result = restore(trakt, "--yes", "--format", "json", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    writes = sorted(e["t"] for e in trakt.requests if e["method"] == "POST" and e["host"] == "api")
    assert writes and all(b - a >= 1.0 for a, b in zip(writes, writes[1:]))  # one write a second, at most
    assert trakt.count(status=429) == 0
    assert "users/comments" in json_result(result)["not_restorable"]

    after = run_backup(account)
    _, now = read_archive(archive_copy(after.archive_key, tmp_path / "after"))
    for file in RESTORED:
        assert comparable(now, file) == comparable(before, file), file
    assert lists_of(now) == lists_of(before)

    trakt.reset_log()
    again = restore(trakt, "--yes", "--format", "json", "--backup", str(original.pk), timeout=300)
    assert again.returncode == 0, again.stderr
    assert trakt.count(method="POST", host="api") == 0  # nothing is missing any more: nothing is written
    safety = Restore.objects.latest("created").safety_backup
    assert safety.pinned and safety.trigger == Backup.Trigger.RESTORE


def test_a_lost_answer_on_a_history_write_never_duplicates_a_play(trakt, admin_user, tmp_path, settings):
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    original = run_backup(account)
    _, before = read_archive(archive_copy(original.archive_key, tmp_path / "original"))
    for play in before["sync/history.json"]:
        trakt.remove_history_item("alice", play["id"])
    # the first history write is applied at trakt, but its answer never comes back
    trakt.inject("reset", path=r"^/sync/history$", method="POST", times=1, when="after")
    # a lost answer is read back after twice the request timeout: a short one here
    result = restore(trakt, "--yes", "--only", "sync/history", env=app_env(trakt, TRAKT_TIMEOUT="1"))
    assert result.returncode == 0, result.stdout + result.stderr
    history = trakt.user_data("alice")["/sync/history"]
    assert Counter((media(i), second(i["watched_at"])) for i in history) == comparable(before, "sync/history")


def test_a_restore_killed_halfway_is_resumed_at_once_without_a_duplicate(trakt, admin_user, tmp_path):
    account = connect_account(trakt, "alice", admin_user, profile="small", vip=True)
    original = run_backup(account)
    _, before = read_archive(archive_copy(original.archive_key, tmp_path / "original"))
    for play in before["sync/history.json"]:
        trakt.remove_history_item("alice", play["id"])
    proc = killed_midway("trakt_restore", "-u", "alice", "--yes", "--only", "sync/history", emulator=trakt,
                         until=lambda: trakt.count(method="POST", host="api") >= 2, env=app_env(trakt, RESTORE_BATCH="100"))
    assert proc.returncode == -signal.SIGKILL
    result = restore(trakt, "--yes", "--only", "sync/history", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    history = trakt.user_data("alice")["/sync/history"]
    assert Counter((media(i), second(i["watched_at"])) for i in history) == comparable(before, "sync/history")
    assert Restore.objects.filter(status=Restore.Status.FAILED).count() == 1  # the killed one, recorded as stopped


def test_a_vip_archive_into_a_free_account_restores_what_fits_and_names_the_limit(trakt, admin_user, tmp_path):
    account = connect_account(trakt, "alice", admin_user, profile="small", vip=True)
    original = run_backup(account)
    _, before = read_archive(archive_copy(original.archive_key, tmp_path / "original"))
    wipe(trakt, "alice", before, random.Random(3))
    trakt.set_user("alice", vip=False)  # the free account's watchlist holds 100 items
    result = restore(trakt, "--yes", "--only", "sync/watchlist", timeout=300)
    assert result.returncode == 1
    assert "trakt allows this account 100 watchlist items; 100 were restored, 30 were not." in result.stdout
    assert len(trakt.user_data("alice")["/sync/watchlist"]) == 100


def test_without_a_terminal_it_asks_for_yes(trakt, admin_user):
    connect_account(trakt, "alice", admin_user, profile="tiny")
    result = restore(trakt)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("Give --yes to restore without a terminal to confirm in "
                                          "(or --dry-run for the plan).")
    assert not Restore.objects.exists() and trakt.count(method="POST", host="api") == 0


def test_no_backup_starts_while_a_restore_runs(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    running = start_restore(account)  # claimed by this (living) process
    with pytest.raises(BackupAlreadyRunning, match="A restore of alice is under way"):
        start_backup(account)
    with pytest.raises(RestoreError, match="A restore of alice is already under way"):
        start_restore(account)
    assert running.claim_pid == os.getpid()
    running.finish(Restore.Status.FAILED, error="test")
    assert start_backup(account).status == Backup.Status.QUEUED
