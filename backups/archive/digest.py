"""sha256 of files and streams: every checksum of the project comes through here."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO

CHUNK = 1 << 20


def sha256_stream(handle: IO[bytes]) -> str:
    """The sha256 of everything left to read in ``handle``, read in chunks (memory stays flat)."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return sha256_stream(handle)


class HashingReader:
    """A file wrapper that hashes everything read through it (to check a stream while it is unpacked)."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data

    def finish(self) -> str:
        """Read what is left (a tarball's padding counts for the checksum too) and return the hex digest."""
        while self.read(CHUNK):
            pass
        return self.digest.hexdigest()
