"""Which process runs a backup, and whether that process is still alive.

A claimed run records its host and process id, and holds an exclusive lock on a
file under ``DATA_DIR/run/`` for as long as it runs. The kernel drops the lock when
the process dies, however it dies (SIGKILL, OOM killer, a reboot), so a run of this
host whose lock is free is dead at once: the user who runs a killed command again
right away is not told that it is still under way. Runs on other hosts (a worker
container) are judged by their heartbeat instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings


def this_host() -> str:
    return socket.gethostname()[:255]


def _lock_path(run_id: int, kind: str = "backup") -> Path:
    return Path(settings.DATA_DIR) / "run" / f"{kind}-{int(run_id)}.lock"


@contextlib.contextmanager
def holding_run_lock(run_id: int, kind: str = "backup") -> Iterator[None]:
    """Hold the run's lock (a backup's, or a restore's) while the block runs; the lock file is removed afterwards."""
    path = _lock_path(run_id, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and someone else's
        return True
    return True


def _lock_free(path: Path) -> bool | None:
    """True if nobody holds the lock, False if somebody does, None if there is no lock file."""
    try:
        handle = open(path)
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def process_gone(claim_host: str, claim_pid: int | None, run_id: int, kind: str = "backup") -> bool:
    """The run was claimed by a process of this host that no longer exists (False when it cannot be told)."""
    if not claim_pid or claim_host != this_host():
        return False
    if not _pid_alive(claim_pid):
        return True
    # The id may have been reused by an unrelated process: the lock says whether the run itself is alive.
    # No lock file yet: the run is between its claim and its lock, so alive.
    return _lock_free(_lock_path(run_id, kind)) is True
