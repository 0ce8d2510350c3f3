"""Second processes: the app's commands run as a user would run them, sharing this test's database,
data folder, queue, archive storage and emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from .waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _database_env() -> dict[str, str]:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return {"SQLITE_PATH": str(db["NAME"])}
    # PostgreSQL: the test database (test_<name>[_gwN]) that pytest-django created, not DATABASE_URL's.
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = quote(db["HOST"] or "127.0.0.1", safe="")  # a socket folder becomes %2F...
    login = credentials + "@" if credentials else ""
    return {"DATABASE_URL": f"postgres://{login}{host}:{db['PORT'] or 5432}/{quote(db['NAME'])}"}


def app_env(emulator=None, **extra) -> dict[str, str]:
    """Environment for a second process that shares this test's database, data folder and emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATA_DIR=str(settings.DATA_DIR),
        ARCHIVE_DIR=str(settings.ARCHIVE_DIR),
        TRAKT_BACKOFF=str(settings.TRAKT_BACKOFF),
        PYTHONUNBUFFERED="1",
    )
    env.update(_database_env())
    # The queue and the archive prefix of this test process (tests/settings.py), not a fresh one.
    env["Q_CLUSTER_NAME"] = settings.Q_CLUSTER["name"]
    if settings.ARCHIVE_STORAGE == "s3":
        env["S3_PREFIX"] = settings.STORAGES["archives"]["OPTIONS"]["location"]
    if emulator is not None:
        env["TRAKT_API_URL"] = emulator.api_url
        env["TRAKT_AUTH_URL"] = emulator.auth_url
    env.update({k: str(v) for k, v in extra.items()})
    return env


def manage(*args: str, emulator=None, timeout: float = 120, input: str | None = None, env: dict | None = None):
    """Run `python manage.py ARGS` in a new process, as a user would, and wait for it."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT, env=env or app_env(emulator), capture_output=True, text=True, timeout=timeout, input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def start_manage(*args: str, emulator=None, env: dict | None = None, **popen) -> subprocess.Popen:
    """Start `python manage.py ARGS` in a new process and return at once; POPEN as for subprocess.Popen
    (by default no input and both outputs piped)."""
    popen = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT,
                            env=env or app_env(emulator), **popen)


def killed_midway(*args: str, emulator, requests: int = 0, until=None, env: dict | None = None) -> subprocess.Popen:
    """Run `manage.py ARGS` and SIGKILL it once the emulator has served REQUESTS GETs, or once UNTIL() is true
    (a crash in the middle of a run); fails the test if the command ended by itself first."""
    proc = start_manage(*args, emulator=emulator, env=env)
    reached = until or (lambda: emulator.count(method="GET") >= requests)
    try:
        wait_for(lambda: reached() or proc.poll() is not None, 120, "the run to reach its middle")
        assert proc.poll() is None, "the command finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return proc
