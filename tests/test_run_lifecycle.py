"""A backup run's lifecycle: claimed by a process, dead the moment that process dies, recorded once.

The kill is a real SIGKILL of a real `manage.py trakt_backup` process; the archive storage is the real one.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from backups import storage
from backups.models import Backup
from backups.services.backup_run import BackupAlreadyRunning, run_backup, start_backup
from backups.services.run_claims import this_host
from tests.support import assert_archive_matches, connect_account, killed_midway, local_archive

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_killed_backup_started_again_at_once_completes(trakt, admin_user, tmp_path):
    account = connect_account(trakt, "alice", admin_user, profile="small")
    trakt.reset_log()
    trakt.set_latency(0.2)
    killed_midway("trakt_backup", "-u", "alice", emulator=trakt, requests=8)
    trakt.set_latency(0)

    backup = run_backup(account)  # at once: no waiting for a heartbeat to go stale

    assert backup.status == Backup.Status.SUCCESS, backup.error
    assert_archive_matches(local_archive(backup, tmp_path), trakt, "alice")


def test_the_killed_run_is_recorded_as_stopped(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user)
    dead = Backup.objects.create(account=account, status=Backup.Status.RUNNING, started=timezone.now(),
                                 heartbeat=timezone.now(), claim_host=this_host(), claim_pid=_dead_pid())
    start_backup(account)
    dead.refresh_from_db()
    assert (dead.status, dead.error_kind) == (Backup.Status.FAILED, Backup.ErrorKind.STOPPED)


def test_a_live_run_of_another_host_holds_the_account_until_its_heartbeat_stops(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user)
    Backup.objects.create(account=account, status=Backup.Status.RUNNING, started=timezone.now(),
                          heartbeat=timezone.now(), claim_host="worker-container", claim_pid=_dead_pid())
    with pytest.raises(BackupAlreadyRunning, match="already under way"):
        start_backup(account)


def test_a_silent_run_of_another_host_is_given_up(trakt, admin_user, settings):
    account = connect_account(trakt, "alice", admin_user)
    long_ago = timezone.now() - timedelta(seconds=settings.BACKUP_HEARTBEAT_TIMEOUT + 5)
    Backup.objects.create(account=account, status=Backup.Status.RUNNING, started=long_ago, heartbeat=long_ago,
                          claim_host="worker-container", claim_pid=1)
    assert start_backup(account).status == Backup.Status.QUEUED


def test_a_running_process_of_this_host_whose_run_lock_is_free_is_another_process(trakt, admin_user, settings):
    """A pid reused by an unrelated process after a crash: the run's lock file is there, but nobody holds it."""
    account = connect_account(trakt, "alice", admin_user)
    dead = Backup.objects.create(account=account, status=Backup.Status.RUNNING, started=timezone.now(),
                                 heartbeat=timezone.now(), claim_host=this_host(), claim_pid=os.getppid())
    lock = settings.DATA_DIR / "run" / f"backup-{dead.pk}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()
    start_backup(account)
    dead.refresh_from_db()
    assert dead.status == Backup.Status.FAILED


def test_an_identical_backup_never_publishes_a_file_of_its_own(trakt, admin_user, monkeypatch, settings):
    settings.DEDUP_IDENTICAL_BACKUPS = True
    account = connect_account(trakt, "alice", admin_user)
    first = run_backup(account)
    published, deleted = [], []
    real_publish, real_delete = storage.publish, storage.delete
    # Spies on the real functions (they still run): they record what the second run asks of the storage.
    monkeypatch.setattr(storage, "publish", lambda path, key: (published.append(key), real_publish(path, key)))
    monkeypatch.setattr(storage, "delete", lambda key: (deleted.append(key), real_delete(key)))
    time.sleep(1.05)  # names carry the second
    second = run_backup(account)
    assert (second.same_as_id, second.archive_name, published, deleted) == (first.pk, first.archive_name, [], [])


def test_a_failure_records_its_kind(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user)
    trakt.inject("status", path=r"^/sync/history", times=None, status=503)
    backup = run_backup(account)
    assert (backup.status, backup.error_kind) == (Backup.Status.FAILED, Backup.ErrorKind.UNAVAILABLE)


def test_a_locked_account_fails_with_its_own_kind(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user)
    trakt.set_user("alice", locked=True)
    backup = run_backup(account)
    assert backup.error_kind == Backup.ErrorKind.LOCKED


def _dead_pid() -> int:
    """The id of a process that has just exited (so no process has it, for now)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_the_pool_keeps_exactly_its_requests_in_flight(trakt, admin_user, settings):
    """TRAKT_CONCURRENCY is a bound the pool reaches and never passes, as the server counts them."""
    settings.TRAKT_CONCURRENCY = 3
    account = connect_account(trakt, "alice", admin_user, profile="small")
    trakt.reset_log()
    trakt.set_latency(0.05)
    run_backup(account, full=True)
    assert trakt.stats()["flight"]["max_in_flight"] == 3
