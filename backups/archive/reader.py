"""Reading an archive back: unpacked once into a folder, each member checked against the manifest on use.

The reader of everything that looks inside an archive (an incremental backup carrying
files over today; restore, browse and exports later).
"""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from backups import codec
from backups.archive.digest import HashingReader, sha256_file

log = logging.getLogger(__name__)

ACTIVITIES_MEMBER = "sync/last_activities.json"


class DamagedArchive(ValueError):
    """The archive does not match its recorded checksum, or holds a member it must not."""


def iter_array_lines(path: Path) -> Iterator[bytes]:
    """The items of an array written by ``JsonArrayFile``, one serialized JSON text each, streamed."""
    with open(path, "rb") as handle:
        for raw in handle:
            line = raw.rstrip(b"\n")
            if line in (b"[", b"]", b"[]", b""):
                continue
            yield line[:-1] if line.endswith(b",") else line


def _unpack(handle: IO[bytes], directory: Path) -> None:
    with tarfile.open(fileobj=handle, mode="r|gz") as tar:
        for member in tar:
            if not member.isfile() or "/" not in member.name:
                continue
            inner = member.name.split("/", 1)[1]
            if ".." in PurePosixPath(inner).parts or inner.startswith("/"):
                raise DamagedArchive("unsafe member in the archive")
            target = directory / inner
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is not None:
                with open(target, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)


class UnpackedArchive:
    """An archive unpacked into ``directory``; its members are trusted only once checked against the manifest."""

    def __init__(self, directory: Path, name: str = ""):
        self.directory = directory
        self.name = name
        self.manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
        self.files: dict[str, dict] = self.manifest.get("files", {})
        self.skipped: dict[str, dict] = self.manifest.get("skipped", {})

    @classmethod
    def from_stream(cls, handle: IO[bytes], directory: Path, *, expected_sha256: str = "",
                    name: str = "") -> UnpackedArchive:
        """Unpack an archive read from ``handle``, checking the whole stream against ``expected_sha256``."""
        hashing = HashingReader(handle)
        try:
            _unpack(hashing, directory)
        except (tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError) as exc:  # not a storage's OSError
            raise DamagedArchive(f"it cannot be read as a tar.gz archive ({exc})") from exc
        if expected_sha256 and hashing.finish() != expected_sha256:
            raise DamagedArchive("its checksum does not match the one recorded when it was made")
        return cls(directory, name)

    @property
    def activities(self) -> dict:
        value = self.value(ACTIVITIES_MEMBER)
        return value if isinstance(value, dict) else {}

    def checked_path(self, member: str) -> Path | None:
        """The member's file if it is present and matches its sha256 in the manifest."""
        entry = self.files.get(member)
        path = self.directory / member
        if entry is None or not path.is_file():
            return None
        if sha256_file(path) != entry.get("sha256"):
            log.warning("archive member %s does not match its checksum; not using it", member)
            return None
        return path

    def value(self, member: str) -> Any:
        """The member's parsed JSON, or None when it is missing or damaged."""
        path = self.checked_path(member)
        return json.loads(path.read_text()) if path else None

    def items(self, member: str) -> Iterator[Any]:
        """The items of an array member, streamed when it was written page by page (one item a line); nothing
        when it is missing, damaged or not an array."""
        entry = self.files.get(member) or {}
        if "pages" not in entry:  # a whole answer (small), written as trakt sent it
            value = self.value(member)
            yield from value if isinstance(value, list) else ()
            return
        path = self.checked_path(member)
        if path is not None:
            yield from map(codec.loads, iter_array_lines(path))
