"""The archive format (a contract: users' scripts and checks rely on it), in one package.

``backup-<username>-<YYYYMMDDTHHMMSSZ>.tar.gz`` holds one top folder of the
same name, one JSON file per endpoint (path mirroring the API path), and
``manifest.json`` at the folder's root.

- ``names``: the archive's name and safe file-name components;
- ``digest``: sha256 of a file or a stream (one loop for everything that hashes);
- ``writer``: building an archive page by page, streamed, moved into place only when complete;
- ``reader``: reading an archive back (unpacked once, each member checked against the manifest);
- ``verify``: checking a stored archive against its recorded checksum and its manifest.
"""

from backups.archive.digest import HashingReader, sha256_file, sha256_stream
from backups.archive.names import SUFFIX, archive_name, archive_stamp, safe_component
from backups.archive.reader import DamagedArchive, UnpackedArchive, iter_array_lines
from backups.archive.verify import verify_archive
from backups.archive.writer import (
    FORMAT_VERSION, ArchiveWriter, JsonArrayFile, encode_item, remove_leftovers,
)

__all__ = [
    "FORMAT_VERSION", "SUFFIX", "ArchiveWriter", "DamagedArchive", "HashingReader", "JsonArrayFile", "UnpackedArchive", "archive_name",
    "archive_stamp", "encode_item", "iter_array_lines", "remove_leftovers", "safe_component",
    "sha256_file", "sha256_stream", "verify_archive",
]
