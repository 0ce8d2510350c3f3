"""Where finished archives live: the local archive folder or an S3-compatible bucket.

Archives are always built in ``ARCHIVE_DIR`` (a temporary file, moved into place
when complete). With local storage that is their home; with S3 they are
uploaded once complete and the local copy removed. Everything else (downloads,
retention, verification) goes through the functions here, by key
``<account folder>/<archive name>``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.storage import FileSystemStorage, storages


class ArchiveFolder(FileSystemStorage):
    """Local storage in ``ARCHIVE_DIR``, read each time it is used: ARCHIVE_DIR is the one truth, even when
    tests or commands change it after the storage was first opened."""

    def __init__(self, **options):
        # Archives are the owner's alone, like the rest of the data folder (trakt_web/private.py).
        options.setdefault("file_permissions_mode", 0o600)
        options.setdefault("directory_permissions_mode", 0o700)
        super().__init__(**options)

    @property
    def base_location(self) -> str:
        return str(settings.ARCHIVE_DIR)

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)


def storage():
    """The archives' storage, as ``STORAGES["archives"]`` in settings configures it."""
    return storages["archives"]


def _checked(key: str) -> str:
    """Refuse a key that would leave the archive folder the same way on every backend (the file system
    raises SuspiciousFileOperation for it, S3 a bare SuspiciousOperation, which becomes a 400)."""
    parts = key.replace("\\", "/").split("/")
    if key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise SuspiciousFileOperation(f"The archive key {key!r} leaves the archive folder.")
    return key


def is_local() -> bool:
    return isinstance(storage(), FileSystemStorage)


def publish(local_path: Path, key: str) -> None:
    """Make a complete archive available under ``key``."""
    if is_local():
        return  # built in place
    with open(local_path, "rb") as handle:
        storage().save(_checked(key), File(handle, name=local_path.name))
    local_path.unlink(missing_ok=True)


def exists(key: str) -> bool:
    return storage().exists(_checked(key))


def open_archive(key: str) -> IO[bytes]:
    return storage().open(_checked(key), "rb")


def delete(key: str) -> None:
    if storage().exists(_checked(key)):
        storage().delete(key)


def local_path(key: str) -> Path | None:
    return Path(settings.ARCHIVE_DIR) / _checked(key) if is_local() else None


def signed_url(key: str, filename: str) -> str | None:
    """A short-lived download URL that saves the file as ``filename`` (S3 only; local archives are streamed
    by the app)."""
    if is_local() or not settings.S3_REDIRECT_DOWNLOADS:
        return None
    disposition = f'attachment; filename="{filename}"'  # archive names hold only A-Z a-z 0-9 . _ -
    return storage().url(_checked(key), parameters={"ResponseContentDisposition": disposition})


def describe(key: str) -> str:
    """Where an archive is, for people: its absolute path, or s3://bucket/key."""
    path = local_path(key)
    if path is not None:
        return str(path.resolve())
    backend = storage()
    prefix = f"{backend.location.strip('/')}/" if getattr(backend, "location", "") else ""
    return f"s3://{backend.bucket_name}/{prefix}{_checked(key)}"
