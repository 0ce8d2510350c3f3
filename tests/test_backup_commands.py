"""The three commands of the old scripts, run as a user would, against the trakt emulator."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

from backups import storage
from backups.catalog import CATEGORIES
from backups.models import Account, AuthEvent, Backup
from tests.support import (
    CLIENT_ID,
    CLIENT_SECRET,
    assert_archive_matches,
    connect_account,
    local_archive,
    manage,
    read_archive,
    start_manage,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_setup_auth_backup_as_the_scripts_did(trakt, admin_user, settings, tmp_path):
    """trakt_setup, trakt_auth -c, trakt_backup: a medium account, every category, every item."""
    trakt.add_user("alice", profile="medium")
    result = manage("trakt_setup", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, emulator=trakt)
    assert result.returncode == 0, result.stderr
    assert CLIENT_SECRET not in result.stdout + result.stderr

    code = trakt.issue_code("alice", redirect_uri="urn:ietf:wg:oauth:2.0:oob")
    result = manage("trakt_auth", "-u", "alice", "-c", code, emulator=trakt)
    assert result.returncode == 0, result.stderr
    assert "Connected the trakt account alice" in result.stdout
    account = Account.objects.get(username="alice")
    assert account.owner == admin_user and account.is_connected
    assert account.auth_events.filter(kind=AuthEvent.Kind.EXCHANGE, ok=True).count() == 1

    result = manage("trakt_backup", "-u", "alice", emulator=trakt)
    assert result.returncode == 0, result.stderr
    backup = Backup.objects.get()
    last_line = result.stdout.strip().splitlines()[-1]
    if storage.is_local():
        assert Path(last_line).is_absolute() and Path(last_line).is_file()
        assert Path(last_line).parent == Path(settings.ARCHIVE_DIR) / "alice"
    else:
        assert last_line.startswith("s3://") and last_line.endswith(backup.archive_key)
    assert last_line.endswith(backup.archive_name)
    path = local_archive(backup, tmp_path)
    assert path.name.startswith("backup-alice-") and path.name.endswith("Z.tar.gz")
    manifest = assert_archive_matches(path, trakt, "alice")
    assert len(read_archive(path)[1]["sync/history.json"]) >= 5000
    assert manifest["files"]["sync/history.json"]["pages"] >= 20
    for category in CATEGORIES:
        if not category.per_list and not category.optional:
            member = category.file + ".json"
            assert manifest["files"][member]["items"] > 0, f"{member} is empty in the seeded account"
    assert any(m.startswith("users/lists/") and m.endswith("/items.json") for m in manifest["files"])
    assert "users/saved_filters/movies.json" in manifest["skipped"]  # VIP only: 426, recorded as skipped
    assert manifest["requests"] == Backup.objects.get().requests_made
    assert backup.status == Backup.Status.SUCCESS and backup.archive_name == path.name
    assert backup.item_counts["sync/history"] == len(read_archive(path)[1]["sync/history.json"])
    leftovers = list((Path(settings.ARCHIVE_DIR) / "alice").iterdir())
    assert leftovers == ([path] if storage.is_local() else []), "no temporary file may remain"


def test_token_expiring_during_the_backup_is_refreshed(trakt, admin_user, tmp_path):
    connect_account(trakt, "alice", admin_user, profile="small")
    trakt.set_latency(0.01)

    def expire_mid_run():
        deadline = time.monotonic() + 30
        while trakt.count(path_regex=r"^/sync/history", method="GET") < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        trakt.expire_access_tokens("alice")

    expirer = threading.Thread(target=expire_mid_run)
    expirer.start()
    result = manage("trakt_backup", "-u", "alice", emulator=trakt)
    expirer.join()
    assert result.returncode == 0, result.stderr
    assert trakt.count(path_regex=r"^/oauth/token", status=200) >= 2  # exchange + the refresh
    assert trakt.count(status=401) >= 1, "the token did not expire mid-run: the test proves nothing"
    assert_archive_matches(local_archive(Backup.objects.get(), tmp_path), trakt, "alice")
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.REFRESH, ok=True).count() == 1


@pytest.mark.parametrize(
    "kind, options",
    [
        ("429", {"retry_after": 1}),
        ("429", {"retry_after": None}),
        ("status", {"status": 500}),
        ("status", {"status": 502}),
        ("status", {"status": 503}),
        ("html", {"status": 520}),
        ("html", {"status": 522}),
        ("reset", {}),
        ("truncated", {}),
    ],
)
def test_transient_faults_still_give_a_complete_archive(trakt, admin_user, kind, options, tmp_path):
    connect_account(trakt, "alice", admin_user, profile="small")
    trakt.inject(kind, path=r"^/sync/history", after=1, times=2, **options)
    trakt.inject(kind, path=r"^/users/me/lists/.+/items", times=1, **options)
    result = manage("trakt_backup", "-u", "alice", emulator=trakt)
    assert result.returncode == 0, result.stderr
    assert_archive_matches(local_archive(Backup.objects.get(), tmp_path), trakt, "alice")


def test_revoked_grant_fails_clearly_and_leaves_nothing(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user, profile="small")
    trakt.revoke_grants("alice")
    result = manage("trakt_backup", "-u", "alice", emulator=trakt)
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "connect" in lines[0].lower() and "alice" in lines[0]
    assert "Traceback" not in result.stderr
    account.refresh_from_db()
    assert account.status == Account.Status.NEEDS_RECONNECT
    assert account.auth_events.filter(kind=AuthEvent.Kind.REFRESH, ok=False).exists()
    backup = Backup.objects.get()
    assert backup.status == Backup.Status.FAILED and "connect" in backup.error
    folder = Path(settings.ARCHIVE_DIR) / "alice"
    assert folder.is_dir() and list(folder.iterdir()) == []  # the account's folder, empty


def test_code_for_another_trakt_user_is_refused(trakt, admin_user):
    trakt.add_user("alice", profile="tiny")
    trakt.add_user("mallory", profile="tiny")
    code = trakt.issue_code("mallory", redirect_uri="urn:ietf:wg:oauth:2.0:oob")
    result = manage("trakt_auth", "-u", "alice", "-c", code, emulator=trakt)
    assert result.returncode != 0
    assert "mallory" in result.stderr and "not alice" in result.stderr
    assert not Account.objects.exists()


def test_bad_code_is_refused_with_a_sentence(trakt, admin_user):
    result = manage("trakt_auth", "-u", "alice", "-c", "not-a-real-code", emulator=trakt)
    assert result.returncode != 0
    assert "did not accept that code" in result.stderr
    assert "Traceback" not in result.stderr
    assert not Account.objects.exists()


def start_device_command(trakt):
    """`trakt_auth -u alice --device` in its own process; returns it and the user code it printed."""
    trakt.add_user("alice", profile="tiny")
    trakt.device_interval = 1
    proc = start_manage("trakt_auth", "-u", "alice", "--device", emulator=trakt, stdin=None, text=True)
    first = proc.stdout.readline()
    assert "/activate" in first
    return proc, first.strip().split()[-1]


def test_device_flow_in_the_terminal(trakt, admin_user):
    proc, user_code = start_device_command(trakt)
    time.sleep(1.5)  # let it poll at least once while pending
    trakt.approve_device(user_code, "alice")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Connected the trakt account alice" in out
    assert Account.objects.get(username="alice").auth_events.filter(kind=AuthEvent.Kind.DEVICE).exists()


def test_device_flow_denied_stops_with_a_message(trakt, admin_user):
    proc, user_code = start_device_command(trakt)
    trakt.deny_device(user_code)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "denied" in err
    assert not Account.objects.exists()


def test_refresh_command_and_two_processes_refreshing_at_once(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    trakt.reset_log()
    trakt.set_latency(0.8)  # the refresh takes long enough for both processes to hold the same old token
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: manage("trakt_auth", "-u", "alice", emulator=trakt), range(2)))
    trakt.set_latency(0)
    for result in results:
        assert result.returncode == 0, result.stderr
    assert trakt.count(path_regex=r"^/oauth/token$", method="POST") == 1
    account.refresh_from_db()
    assert account.is_connected
    # the token both processes ended with works
    result = manage("trakt_backup", "-u", "alice", emulator=trakt)
    assert result.returncode == 0, result.stderr


def test_owner_must_be_clear(trakt, db):
    from django.contrib.auth import get_user_model

    trakt.add_user("alice", profile="tiny")
    code = trakt.issue_code("alice", redirect_uri="urn:ietf:wg:oauth:2.0:oob")
    result = manage("trakt_auth", "-u", "alice", "-c", code, emulator=trakt)
    assert result.returncode != 0 and "no admin user" in result.stderr.lower()
    User = get_user_model()
    User.objects.create_superuser("one", "", "pw-12345678")
    User.objects.create_superuser("two", "", "pw-12345678")
    result = manage("trakt_auth", "-u", "alice", "-c", code, emulator=trakt)
    assert result.returncode != 0 and "--owner" in result.stderr
    result = manage("trakt_auth", "-u", "alice", "-c", code, "--owner", "two", emulator=trakt)
    assert result.returncode == 0, result.stderr
    assert Account.objects.get().owner.username == "two"


def test_backup_of_unknown_account_says_how_to_connect(trakt, db):
    result = manage("trakt_backup", "-u", "nobody", emulator=trakt)
    assert result.returncode != 0
    assert "trakt_auth -u nobody" in result.stderr
