"""Process and disk faults, for real: a backup process killed with SIGKILL, and a disk that fills up.

The backups run as `manage.py trakt_backup` in a second process; the kill is a real signal and the full disk
is a real file-size limit (RLIMIT_FSIZE) on that process, so write() fails with EFBIG as on a full disk.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from backups.models import Backup
from backups.services.backup_run import run_backup
from tests.support import ROOT, app_env, assert_archive_matches, connect_account, killed_midway, sha256_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def local_archives(settings):
    if settings.ARCHIVE_STORAGE != "local":
        pytest.skip("needs the archives on the local disk")


def test_killed_backup_leaves_no_archive_and_the_next_run_cleans_up(trakt, admin_user, settings):
    account = connect_account(trakt, "alice", admin_user, profile="small")
    trakt.reset_log()
    trakt.set_latency(0.2)  # about 60 requests, 4 at a time: a run of a few seconds
    killed_midway("trakt_backup", "-u", "alice", emulator=trakt, requests=16)
    trakt.set_latency(0)

    folder = Path(settings.ARCHIVE_DIR) / account.archive_folder
    leftovers = list(folder.iterdir())
    assert not [p for p in leftovers if p.name.endswith(".tar.gz")], "an archive appeared under its real name"
    assert [p for p in leftovers if p.name.startswith(".backup-") and p.name.endswith(".partial") and p.is_dir()], (
        f"the kill left no work folder behind ({leftovers}): it came too late to prove anything"
    )
    dead = Backup.objects.get()
    assert dead.status == Backup.Status.RUNNING and dead.heartbeat is not None

    # Its process is gone, so the next run may start at once (tests/test_run_lifecycle.py), and cleans up.
    backup = run_backup(account)
    assert backup.status == Backup.Status.SUCCESS, backup.error
    dead.refresh_from_db()
    assert dead.status == Backup.Status.FAILED and "stopped without finishing" in dead.error
    assert sorted(p.name for p in folder.iterdir()) == [backup.archive_name], "the next run did not clean up"
    assert_archive_matches(folder / backup.archive_name, trakt, "alice")


# -- a full disk -----------------------------------------------------------------------------------------


def _limited_manage(args: list[str], limit: int, env: dict) -> subprocess.CompletedProcess:
    """`manage.py ARGS` with a hard file-size limit; SIGXFSZ ignored, so a write past it fails with EFBIG."""
    launcher = (
        "import os, resource, signal, sys\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
    )
    return subprocess.run(
        [sys.executable, "-c", launcher, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def own_database(tmp_path):
    """A compact copy of this test's database for the limited process: its writes stay far below the limit,
    whatever size the shared test database has grown to."""
    if connection.vendor != "sqlite":
        pytest.skip("the file-size limit must not cover the database server: SQLite only")

    def copy() -> Path:
        path = tmp_path / "own.sqlite3"
        with connection.cursor() as cursor:
            cursor.execute("VACUUM INTO %s", [str(path)])
        return path

    return copy


def _last_backup_row(database: Path) -> tuple[str, str]:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT status, error FROM backups_backup ORDER BY id DESC LIMIT 1").fetchone()


def test_full_disk_fails_cleanly_and_keeps_every_earlier_archive(trakt, admin_user, settings, tmp_path, own_database):
    # A history of 5000 plays: a 2 MB history.json, far past the limit below; the database stays under it.
    account = connect_account(trakt, "alice", admin_user, profile="tiny", sizes={"history": 5000})
    earlier = run_backup(account, full=True)
    assert earlier.status == Backup.Status.SUCCESS, earlier.error
    folder = Path(settings.ARCHIVE_DIR) / account.archive_folder
    archives = {p: sha256_of(p) for p in folder.iterdir()}
    assert list(archives) == [folder / earlier.archive_name]
    database = own_database()
    limit = database.stat().st_size + (1 << 20)
    assert limit < 2 * (1 << 20), "the database copy is too big for a meaningful limit"

    env = app_env(trakt, SQLITE_PATH=str(database), LOG_FILE=str(tmp_path / "limited.log"))
    result = _limited_manage(["trakt_backup", "-u", "alice", "--full"], limit, env)

    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "free space" in lines[0] and "could not be written" in lines[0], lines[0]
    status, error = _last_backup_row(database)
    assert status == Backup.Status.FAILED and "free space" in error
    assert {p: sha256_of(p) for p in folder.iterdir()} == archives, "an earlier archive changed, or a file was left"
    assert not list(Path(settings.ARCHIVE_DIR).rglob(".*")), "a temporary file or folder was left behind"


def test_full_disk_under_the_database_says_so_in_one_line(trakt, admin_user, tmp_path, own_database):
    connect_account(trakt, "alice", admin_user, profile="tiny")
    database = own_database()
    env = app_env(trakt, SQLITE_PATH=str(database), LOG_FILE=str(tmp_path / "limited.log"))
    # Not even SQLite's shared-memory index (32 KB) fits: the first database access of the command fails.
    result = _limited_manage(["trakt_backup", "-u", "alice"], 4096, env)
    assert result.returncode != 0
    assert "disk" in result.stderr.lower(), result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
