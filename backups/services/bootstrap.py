"""What every start does before serving: migrate under a lock, recover dead runs.

Used by ``manage.py serve`` (the README's run command) and by the Docker
entrypoint, so that two containers starting together never race on migrations.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connection

from trakt_web.private import private_folder

log = logging.getLogger(__name__)


@contextlib.contextmanager
def migration_lock() -> Iterator[None]:
    """A file lock in the data folder, plus an advisory lock when the database is PostgreSQL
    (containers on several hosts share the database but not always a folder)."""
    path = settings.DATA_DIR / ".migrate.lock"
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_lock(727274)")
                try:
                    yield
                finally:
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_advisory_unlock(727274)")
            else:
                yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def collect_static_if_missing(verbosity: int = 0) -> None:
    """Hashed static files need their manifest: collect once (the Docker image does it at build time)."""
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    backend = settings.STORAGES["staticfiles"]["BACKEND"]
    if "Manifest" in backend and not manifest.is_file():
        call_command("collectstatic", interactive=False, verbosity=verbosity)


def prepare(verbosity: int = 0) -> None:
    private_folder(settings.ARCHIVE_DIR)
    with migration_lock():
        call_command("migrate", interactive=False, verbosity=verbosity)
        collect_static_if_missing(verbosity)
    from backups.services.backup_run import recover_stale_backups

    recovered = recover_stale_backups()
    if recovered:
        log.warning("marked %d backups left running by a stopped worker as failed", recovered)
