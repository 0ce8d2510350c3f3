"""Helpers for tests that run the app as a user would: real commands in real processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


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
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["SQLITE_PATH"] = str(db["NAME"])
    else:  # PostgreSQL: the test database (test_<name>[_gwN]) that pytest-django created, not DATABASE_URL's
        credentials = quote(db["USER"] or "", safe="")
        if db.get("PASSWORD"):
            credentials += ":" + quote(db["PASSWORD"], safe="")
        host = quote(db["HOST"] or "127.0.0.1", safe="")  # a socket folder becomes %2F...
        env["DATABASE_URL"] = (
            f"postgres://{credentials + '@' if credentials else ''}{host}:{db['PORT'] or 5432}/{quote(db['NAME'])}"
        )
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
    """Run `python manage.py ARGS` in a new process, as a user would."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT, env=env or app_env(emulator), capture_output=True, text=True, timeout=timeout, input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def read_archive(path: Path) -> tuple[dict, dict[str, object]]:
    """(manifest, {member path inside the top folder: parsed JSON}) of an archive."""
    files: dict[str, object] = {}
    manifest = None
    top = path.name[: -len(".tar.gz")]
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            assert member.name == top or member.name.startswith(top + "/"), member.name
            if not member.isfile():
                continue
            inner = member.name[len(top) + 1 :]
            data = json.load(tar.extractfile(member))
            if inner == "manifest.json":
                manifest = data
            else:
                files[inner] = data
    assert manifest is not None, "archive has no manifest.json"
    return manifest, files


def archive_copy(key: str, folder: Path) -> Path:
    """A local copy of the archive stored under ``key``, wherever the archive storage keeps it (the data
    folder, or the bucket of the services pass), named as the archive so that read_archive can open it."""
    from backups import storage

    copy = folder / key
    copy.parent.mkdir(parents=True, exist_ok=True)
    with storage.open_archive(key) as source, open(copy, "wb") as target:
        shutil.copyfileobj(source, target)
    return copy


def local_archive(backup, folder: Path) -> Path:
    """A backup's archive as a local file: in place with local storage, a copy from the bucket with S3."""
    from backups import storage

    return storage.local_path(backup.archive_key) or archive_copy(backup.archive_key, folder)


def damage_archive(key: str, where: float = 0.5) -> None:
    """Flip one byte of a stored archive (bit rot), wherever the archive storage keeps it."""
    from django.core.files.base import ContentFile

    from backups import storage

    with storage.open_archive(key) as handle:
        data = bytearray(handle.read())
    data[int(len(data) * where)] ^= 0xFF
    storage.delete(key)
    storage.storage().save(key, ContentFile(bytes(data)))
