"""Several workers on PostgreSQL + Redis (+ the S3-compatible archive storage of the services pass).

Two real `manage.py qcluster` processes take backups of 20 accounts from the emulator through django-q2's
Redis broker, while the same backups are asked for again (by a user, by the scheduler, by a task delivered
twice). Every account must end with a complete archive, and no account may ever be backed up twice at once:
the database's one-active-backup constraint and the queued → running claim decide, not timing.
Runs in the second pass only (scripts/test-services.sh).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest
from django.conf import settings
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Task
from django_q.status import Stat
from django_q.tasks import async_task

from backups import storage
from backups.models import Backup
from backups.services.backup_run import BackupAlreadyRunning, queue_backup
from tests.support import app_env, archive_copy, connect_account, read_archive, start_manage

ACCOUNTS = 20
WORKER_PROCESSES = 2
DEADLINE = 75  # seconds for every backup to finish

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
        or not os.environ.get("REDIS_URL"),
        reason="needs DATABASE_URL on PostgreSQL and REDIS_URL (scripts/test-services.sh)",
    ),
]


@pytest.fixture
def workers(trakt, tmp_path, monkeypatch):
    """Two worker processes on this test's database and queue; tasks queued here go to Redis, not inline."""
    monkeypatch.setattr(Conf, "SYNC", False)
    broker = get_broker()
    broker.delete_queue()  # whatever an interrupted earlier run left in this queue
    env = app_env(trakt, Q_SYNC="0", WORKERS="2")
    procs = []
    for number in range(WORKER_PROCESSES):
        log = open(tmp_path / f"worker{number}.log", "w+")  # noqa: SIM115 - closed below
        procs.append((start_manage("qcluster", env=env, stdin=None, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True), log))
    try:
        deadline = time.monotonic() + 30
        while len(Stat.get_all(broker)) < WORKER_PROCESSES:  # both clusters up before anything is queued
            assert time.monotonic() < deadline, "the worker processes did not start within 30 s"
            assert all(proc.poll() is None for proc, _ in procs), "a worker process stopped while starting"
            time.sleep(0.2)
        yield procs
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, log in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
        broker.delete_queue()


def stop_cleanly(procs) -> list[str]:
    for proc, _ in procs:
        proc.send_signal(signal.SIGTERM)
    outputs = []
    for proc, log in procs:
        proc.wait(timeout=30)
        log.seek(0)
        outputs.append(log.read())
        assert proc.returncode == 0, f"a worker did not stop cleanly (exit code {proc.returncode}):\n{outputs[-1]}"
    return outputs


def wait_until_done(task_ids: list[str], procs) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        active = Backup.objects.filter(status__in=[Backup.Status.QUEUED, Backup.Status.RUNNING]).count()
        finished = Task.objects.filter(id__in=task_ids).count()
        if not active and finished == len(task_ids):
            return
        for proc, log in procs:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"a worker stopped (exit code {proc.returncode}):\n{log.read()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"after {DEADLINE} s: {active} backups still active, {finished}/{len(task_ids)} tasks done")
        time.sleep(0.2)


def assert_complete_archive(backup: Backup, emulator, tmp_path: Path) -> None:
    """The archive (wherever storage keeps it) holds exactly the emulator's data for every endpoint."""
    manifest, files = read_archive(archive_copy(backup.archive_key, tmp_path / "copies" / str(backup.pk)))
    expected = emulator.user_data(backup.account.username)
    assert manifest["username"] == backup.account.username
    assert set(files) == set(manifest["files"]), "manifest and archive disagree"
    for member, entry in manifest["files"].items():
        assert files[member] == expected[entry["endpoint"]], f"{backup.account.username}: {member} differs"


def test_two_workers_back_up_twenty_accounts_never_one_account_twice_at_once(trakt, admin_user, workers, tmp_path):
    accounts = [connect_account(trakt, f"member{n:02d}", admin_user) for n in range(ACCOUNTS)]
    trakt.set_latency(0.005)  # long enough for the runs to overlap, as on a real server
    since = time.time()

    task_ids: list[str] = []
    refused = ran_again = 0
    for account in accounts:
        first = queue_backup(account)
        try:  # a second "Back up now" while the first is queued or running
            queue_backup(account)
            ran_again += 1
        except BackupAlreadyRunning:
            refused += 1
        if account.pk % 2:  # the scheduler fires at the same time: the worker must skip it
            task_ids.append(async_task("backups.tasks.scheduled_backup", account.pk))
        if account.pk % 3 == 0:  # the same task delivered twice: one run only (the queued → running claim)
            task_ids.append(async_task("backups.tasks.run_queued_backup", first.pk))
    assert refused > 0, "no second backup was asked for while one was active: the test proves nothing"

    wait_until_done(task_ids, workers)
    outputs = stop_cleanly(workers)

    backups = list(Backup.objects.select_related("account").order_by("started"))
    assert {b.status for b in backups} == {Backup.Status.SUCCESS}, [(b.account.username, b.error) for b in backups
                                                                     if b.status != Backup.Status.SUCCESS]
    by_account: dict[int, list[Backup]] = defaultdict(list)
    for backup in backups:
        by_account[backup.account_id].append(backup)
    assert set(by_account) == {account.pk for account in accounts}, "an account got no backup"
    assert len(backups) >= ACCOUNTS + ran_again

    # One at a time per account: the runs of one account never overlap ...
    for runs in by_account.values():
        for earlier, later in zip(runs, runs[1:]):
            assert later.started >= earlier.finished, f"{later.account.username} was backed up twice at once"
    # ... and trakt saw exactly the requests of those runs: a run executed twice would have doubled them.
    requests = defaultdict(list)
    for entry in trakt.requests:
        if entry["host"] == "api" and entry["user"] and entry["t"] >= since:
            requests[entry["user"]].append(entry["t"])
    for backup in backups:
        seen = [t for t in requests[backup.account.username]
                if backup.started.timestamp() <= t <= backup.finished.timestamp()]
        assert len(seen) == backup.requests_made, f"{backup.account.username}: trakt saw {len(seen)} requests " \
                                                   f"during a run that made {backup.requests_made}"
    assert sum(len(times) for times in requests.values()) == sum(b.requests_made for b in backups), \
        "trakt saw requests outside every backup run"

    for backup in backups:
        assert_complete_archive(backup, trakt, tmp_path)
    if not storage.is_local():  # built locally, published to the bucket, no local copy left behind
        assert not list(Path(settings.ARCHIVE_DIR).rglob("*.tar.gz"))
    assert all(" processing backup-" in output for output in outputs), "both worker processes must take backups"
