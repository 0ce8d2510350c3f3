"""Exporting an archive into another tool's format (one service: the command, the dashboard and the API).

The archive (a backup's, checked against its sha256, or a file given on the command line) is unpacked into a
private temporary folder; the format's writer then makes the ZIP as it is read, chunk by chunk, so a download
starts at once and nothing but the unpacked archive is held on disk. Close the export when done (the web's
streaming response does): its folder goes with it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from django.utils import timezone

from backups import archive
from backups.exports import FORMATS
from backups.exports.zipout import ZipOut
from backups.models import Account, Backup
from backups.services.backup_run import open_backup
from backups.services.grants import ServiceError

log = logging.getLogger(__name__)

CHUNK = 256 * 1024  # bytes handed over at once
UNREADABLE = (OSError, ValueError, EOFError, tarfile.TarError, zlib.error)  # a file that is no (whole) archive


class ExportError(ServiceError):
    """An export that cannot be made, with the sentence to show."""


class Export:
    """A ZIP being made: iterate over it for its bytes; ``notes`` holds what to tell once it is read through."""

    def __init__(self, source: archive.UnpackedArchive, work: Path, fmt: str, filename: str):
        self.filename = filename
        self.format = FORMATS[fmt]
        self.notes: list[str] = []
        self._source, self._work = source, work

    def __iter__(self) -> Iterator[bytes]:
        out = ZipOut()
        try:
            writer = self.format.write(self._source, out)
            while True:
                try:
                    next(writer)
                except StopIteration as done:
                    self.notes = list(done.value or [])
                    break
                if out.ready >= CHUNK:
                    yield out.take()
            out.close()
            yield out.take()
        finally:
            self.close()

    def close(self) -> None:
        shutil.rmtree(self._work, ignore_errors=True)

    def write_to(self, path: Path) -> Path:
        """Write the whole ZIP to ``path`` (through a temporary file beside it, so a failure leaves nothing)."""
        partial = path.with_name(path.name + ".tmp")
        try:
            with open(partial, "wb") as handle:
                for chunk in self:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return path


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"There is no export format called {fmt!r}: use one of {', '.join(FORMATS)}.")


def _name(fmt: str, username: str, moment) -> str:
    """``<format>-<username>-<UTC time>.zip``, after the archive's own naming rule."""
    return f"{fmt}-{archive.safe_component(username, 'user')}-{archive.archive_stamp(moment)}.zip"


def newest_backup(account: Account) -> Backup:
    backup = (Backup.objects.successful().filter(account=account).exclude(archive_name="")
              .exclude(verify_ok=False).order_by("-created").first())
    if backup is None:
        raise ExportError(f"{account.username} has no backup to export yet.")
    return backup


def export_backup(backup: Backup, fmt: str) -> Export:
    """An export of a backup's archive (read from the archive storage and checked against its sha256)."""
    _check_format(fmt)
    if backup.status != Backup.Status.SUCCESS or not backup.archive_key:
        raise ExportError("That backup has no archive to export.")
    work = Path(tempfile.mkdtemp(prefix="export-"))
    try:
        source = open_backup(backup, work)
    except UNREADABLE as exc:
        shutil.rmtree(work, ignore_errors=True)
        log.warning("export of backup %s: its archive could not be read (%s)", backup.pk, exc)
        raise ExportError(f"The archive of that backup could not be read ({exc}): check it with the "
                          "dashboard's Verify, or export another backup.") from exc
    return Export(source, work, fmt, _name(fmt, backup.account.username, backup.started or backup.created))


def export_file(path: Path, fmt: str, username: str) -> Export:
    """An export of an archive file (``trakt_export --archive``), read as it is."""
    _check_format(fmt)
    work = Path(tempfile.mkdtemp(prefix="export-"))
    try:
        with open(path, "rb") as handle:
            source = archive.UnpackedArchive.from_stream(handle, work, name=path.name)
    except UNREADABLE as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise ExportError(f"{path} is not an archive of this project that can be read ({exc}).") from exc
    return Export(source, work, fmt, _name(fmt, username, timezone.now()))
