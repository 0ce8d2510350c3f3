"""Building one archive: pages streamed into per-file JSON arrays, each file into the tarball once complete.

Memory does not grow with the size of the account. The tarball is written to
``<name>.tar.gz.tmp`` and moved into place with ``os.replace`` only when it is
complete: a crash never leaves a half archive under the real name.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import tarfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Iterable
from typing import Any

from backups import codec
from trakt_web.private import open_private, private_folder
from backups.archive.digest import sha256_file
from backups.archive.names import SUFFIX, safe_component
from backups.archive.reader import ACTIVITIES_MEMBER

FORMAT_VERSION = 1
PARTIAL_SUFFIX = ".partial"
COMPRESS_LEVEL = 6  # gzip's own default: level 9 costs several times the time for 1-2% smaller archives
TMP_SUFFIX = ".tmp"
BATCH = 1000  # items written at once: few calls, and memory stays flat whatever the file's size
# One item per line, in compact JSON as trakt sends it (the hot path: orjson).
encode_item = codec.dumps


class JsonArrayFile:
    """One JSON array on disk, written page by page."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = open(path, "wb")
        self._digest = hashlib.sha256()
        self.count = 0
        self._write(b"[")

    def _write(self, data: bytes) -> None:
        self._handle.write(data)
        self._digest.update(data)

    def extend(self, items: list) -> None:
        self.extend_lines(map(encode_item, items))

    def extend_lines(self, lines: Iterable[bytes]) -> None:
        """Items already serialized (one JSON text each, as this class writes them), written in batches."""
        batch: list[bytes] = []
        for line in lines:
            batch.append(line)
            if len(batch) == BATCH:
                self._write_batch(batch)
                batch = []
        if batch:
            self._write_batch(batch)

    def _write_batch(self, batch: list[bytes]) -> None:
        self._write((b",\n" if self.count else b"\n") + b",\n".join(batch))
        self.count += len(batch)

    def close(self) -> str:
        self._write(b"\n]\n" if self.count else b"]\n")
        self._handle.close()
        return self._digest.hexdigest()


class _Compressor:
    """Adds complete files to the tarball in a thread of its own, in the order they are handed over.

    Whoever records a file goes on at once; zlib compresses without holding the GIL, beside the requests and
    the parsing. An error (a full disk) is raised at the next hand-over or at ``drain``.
    """

    def __init__(self, tar: tarfile.TarFile):
        self._tar = tar
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="archive-compress", daemon=True)
        self._thread.start()

    def add(self, path: Path, arcname: str, *, remove: bool = False) -> None:
        self.raise_error()
        self._queue.put((path, arcname, remove))

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._error is not None:
                continue  # the archive is lost already: drain the queue without work
            path, arcname, remove = job
            try:
                self._tar.add(path, arcname=arcname, recursive=False, filter=_normalize_member)
                if remove:
                    path.unlink()
            except BaseException as exc:  # handed to the writer's thread
                self._error = exc

    def drain(self, *, raise_error: bool = True) -> None:
        """Wait until every file handed over is in the tarball."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if raise_error:
            self.raise_error()

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error


class ArchiveWriter:
    """Builds one archive: files in a hidden work folder, streamed into ``<name>.tar.gz.tmp`` as each is complete.

    Compressing a file as soon as it is recorded overlaps the work with the network; the manifest goes
    in last, and the temporary tarball is moved into place only by ``finish``.
    """

    def __init__(self, directory: Path, name: str, created: datetime):
        self.directory = directory
        self.created = created
        self.name = name
        self.work = directory / f".{self.name}{PARTIAL_SUFFIX}"
        self.root = self.work / self.name
        self.files: dict[str, dict[str, Any]] = {}
        self.skipped: dict[str, dict[str, Any]] = {}
        private_folder(directory)  # an account's archives: 0700 folders, 0600 files (trakt_web/private.py)
        if self.work.exists():
            shutil.rmtree(self.work)
        private_folder(self.root)
        self._tmp = self.directory / f"{self.name}{SUFFIX}{TMP_SUFFIX}"
        self._raw = open_private(self._tmp)  # moved into place by finish, mode and all
        self._tar = tarfile.open(fileobj=self._raw, mode="w:gz", format=tarfile.PAX_FORMAT,
                                 compresslevel=COMPRESS_LEVEL)
        self._added: set[str] = set()
        self._compressor = _Compressor(self._tar)
        self._compressor.add(self.root, self.name)

    def _add(self, member: str) -> None:
        """Put a complete file into the tarball (once) and drop it from the work folder."""
        if member in self._added:
            raise ValueError(f"{member} was written twice")
        self._added.add(member)
        self._compressor.add(self.root / member, f"{self.name}/{member}", remove=True)

    @property
    def final_path(self) -> Path:
        return self.directory / f"{self.name}{SUFFIX}"

    def _path(self, file: str) -> Path:
        parts = [safe_component(part) for part in file.split("/")]
        path = self.root.joinpath(*parts[:-1], parts[-1] + ".json")
        if self.root not in path.parents:  # belt and braces: safe_component already forbids escaping
            raise ValueError(f"refusing to write outside the archive: {file!r}")
        return path

    def member(self, file: str) -> str:
        return self._path(file).relative_to(self.root).as_posix()

    def open_array(self, file: str) -> JsonArrayFile:
        return JsonArrayFile(self._path(file))

    def record(self, file: str, *, endpoint: str, params: dict, items: int, sha256: str,
               item_count: int | None = None, pages: int | None = None, source: str = "fetched") -> None:
        entry: dict[str, Any] = {"endpoint": endpoint, "params": params, "items": items, "sha256": sha256,
                                 "source": source}
        if item_count is not None:
            entry["item_count"] = item_count
        if pages is not None:
            entry["pages"] = pages
        member = self.member(file)
        self.files[member] = entry
        self._add(member)

    def write_value(self, file: str, value: Any, *, endpoint: str, params: dict) -> int:
        """A non-paginated answer, stored as trakt sent it. Returns its item count."""
        data = (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode()
        path = self._path(file)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        items = len(value) if isinstance(value, list) else 1
        self.record(file, endpoint=endpoint, params=params, items=items, sha256=hashlib.sha256(data).hexdigest())
        return items

    def keep(self, folder: str, name: str, data: bytes, *, source: str) -> str:
        """A file kept as it came (an imported export's file no catalog knows), under ``folder``; its member."""
        path = self.root / safe_component(folder) / safe_component(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        member = path.relative_to(self.root).as_posix()
        self.files[member] = {"endpoint": source, "params": {}, "items": 0, "sha256": hashlib.sha256(data).hexdigest(),
                              "source": "kept"}
        self._add(member)
        return member

    def copy_from(self, file: str, source: Path, entry: dict[str, Any]) -> None:
        """Carry a file over from an earlier archive (already checked against its sha256)."""
        path = self._path(file)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
        member = self.member(file)
        self.files[member] = {**entry, "source": "carried_over"}
        self._add(member)

    def skip(self, file: str, endpoint: str, reason: str) -> None:
        self.skipped[self.member(file)] = {"endpoint": endpoint, "reason": reason}

    def content_digest(self) -> str:
        """Equal for two archives with the same files and bytes, whatever their names and times."""
        digest = hashlib.sha256()
        for member in sorted(self.files):
            if member != ACTIVITIES_MEMBER:  # moves on every visit to trakt, content or not
                digest.update(f"{member}\0{self.files[member]['sha256']}\n".encode())
        return digest.hexdigest()

    def finish(self, *, username: str, app_version: str, requests: int, extra: dict | None = None) -> tuple[Path, int, str]:
        """Write the manifest and the tarball; move it into place. Returns (path, size, sha256)."""
        manifest = {
            "format_version": FORMAT_VERSION,
            "app_version": app_version,
            "username": username,
            "created": self.created.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
            "files": dict(sorted(self.files.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "requests": requests,
            **(extra or {}),
        }
        (self.root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n")
        self._compressor.add(self.root / "manifest.json", f"{self.name}/manifest.json")
        self._compressor.drain()
        self._tar.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        final = self.final_path
        os.replace(self._tmp, final)
        shutil.rmtree(self.work, ignore_errors=True)
        return final, final.stat().st_size, sha256_file(final)

    def abort(self) -> None:
        self._compressor.drain(raise_error=False)
        for closing in (self._tar.close, self._raw.close):
            try:
                closing()
            except (OSError, ValueError, tarfile.TarError):
                pass  # a full disk may refuse even the last bytes; the file is deleted below anyway
        shutil.rmtree(self.work, ignore_errors=True)
        self._tmp.unlink(missing_ok=True)


def _normalize_member(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def remove_leftovers(directory: Path, older_than: float = 0) -> list[Path]:
    """Delete work folders and temporary tarballs of runs that died. Returns what was removed."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    cutoff = time.time() - older_than
    for entry in directory.iterdir():
        if entry.name.endswith(PARTIAL_SUFFIX) or entry.name.endswith(SUFFIX + TMP_SUFFIX):
            if entry.lstat().st_mtime <= cutoff:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed
