"""The archive format (a contract: users' scripts and checks rely on it).

``backup-<username>-<YYYYMMDDTHHMMSSZ>.tar.gz`` holds one top folder of the
same name, one JSON file per endpoint (path mirroring the API path), and
``manifest.json`` at the folder's root.

Pages are streamed into per-file JSON arrays on disk as they arrive, so memory
does not grow with the size of the account. The tarball is written to
``<name>.tar.gz.tmp`` and moved into place with ``os.replace`` only when it is
complete: a crash never leaves a half archive under the real name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import threading
import time
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

FORMAT_VERSION = 1
PARTIAL_SUFFIX = ".partial"
COMPRESS_LEVEL = 6  # gzip's own default: level 9 costs several times the time for 1-2% smaller archives
TMP_SUFFIX = ".tmp"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# One item per line, exactly as json.dumps(item, ensure_ascii=False) writes it; built once (it is the hot path).
encode_item = json.JSONEncoder(ensure_ascii=False).encode


def safe_component(value: str, fallback: str = "item") -> str:
    """A file-name component that cannot escape its folder or break a name.

    Unicode is folded to ASCII where possible; anything else (``/``, quotes,
    control characters) becomes ``_``; leading dots are stripped so ``..`` and
    hidden names are impossible.
    """
    folded = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", folded).strip("._-")[:100]
    return cleaned or fallback


def archive_stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
        for item in items:
            self._write((b",\n" if self.count else b"\n") + encode_item(item).encode())
            self.count += 1

    def extend_lines(self, lines) -> None:
        """Items already serialized (one JSON text each, as this class writes them)."""
        for line in lines:
            self._write((b",\n" if self.count else b"\n") + (line.encode() if isinstance(line, str) else line))
            self.count += 1

    def close(self) -> str:
        self._write(b"\n]\n" if self.count else b"]\n")
        self._handle.close()
        return self._digest.hexdigest()


def iter_array_lines(path: Path):
    """The items of an array written by ``JsonArrayFile``, one serialized JSON text each, streamed."""
    with open(path, "rb") as handle:
        for raw in handle:
            line = raw.rstrip(b"\n")
            if line in (b"[", b"]", b"[]", b""):
                continue
            yield (line[:-1] if line.endswith(b",") else line).decode()


class ArchiveWriter:
    """Builds one archive: files in a hidden work folder, streamed into ``<name>.tar.gz.tmp`` as each is complete.

    Compressing a file as soon as it is recorded overlaps the work with the network; the manifest goes
    in last, and the temporary tarball is moved into place only by ``finish``.
    """

    def __init__(self, directory: Path, username: str, created: datetime):
        self.directory = directory
        self.created = created
        self.name = f"backup-{safe_component(username, 'user')}-{archive_stamp(created)}"
        self.work = directory / f".{self.name}{PARTIAL_SUFFIX}"
        self.root = self.work / self.name
        self.files: dict[str, dict[str, Any]] = {}
        self.skipped: dict[str, dict[str, Any]] = {}
        directory.mkdir(parents=True, exist_ok=True)
        if self.work.exists():
            shutil.rmtree(self.work)
        self.root.mkdir(parents=True)
        self._tmp = self.directory / f"{self.name}.tar.gz{TMP_SUFFIX}"
        self._raw = open(self._tmp, "wb")
        self._tar = tarfile.open(fileobj=self._raw, mode="w:gz", format=tarfile.PAX_FORMAT,
                                 compresslevel=COMPRESS_LEVEL)
        self._tar_lock = threading.Lock()
        self._added: set[str] = set()
        self._add_entry(self.root, self.name)

    def _add_entry(self, path: Path, arcname: str) -> None:
        with self._tar_lock:
            self._tar.add(path, arcname=arcname, recursive=False, filter=_normalize_member)

    def _add(self, member: str) -> None:
        """Put a complete file into the tarball (once) and drop it from the work folder."""
        if member in self._added:
            raise ValueError(f"{member} was written twice")
        self._added.add(member)
        path = self.root / member
        self._add_entry(path, f"{self.name}/{member}")
        path.unlink()

    @property
    def final_path(self) -> Path:
        return self.directory / f"{self.name}.tar.gz"

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
            if member != "sync/last_activities.json":
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
        self._add_entry(self.root / "manifest.json", f"{self.name}/manifest.json")
        with self._tar_lock:
            self._tar.close()
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
        final = self.final_path
        os.replace(self._tmp, final)
        shutil.rmtree(self.work, ignore_errors=True)
        return final, final.stat().st_size, sha256_file(final)

    def abort(self) -> None:
        with self._tar_lock:
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
        if entry.name.endswith(PARTIAL_SUFFIX) or entry.name.endswith(".tar.gz" + TMP_SUFFIX):
            if entry.lstat().st_mtime <= cutoff:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def verify_archive(handle: IO[bytes], expected_sha256: str | None = None) -> list[str]:
    """Problems found in an archive (an empty list means it is intact).

    Checks the whole file against the checksum recorded when it was made, then
    every member against the manifest inside it.
    """
    if expected_sha256:
        digest = hashlib.sha256()
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
        if digest.hexdigest() != expected_sha256:
            return ["the archive's checksum does not match the one recorded when it was made"]
        handle.seek(0)
    problems: list[str] = []
    try:
        with tarfile.open(fileobj=handle, mode="r:gz") as tar:
            manifest = None
            digests: dict[str, str] = {}
            for member in tar:
                if not member.isfile():
                    continue
                extracted = tar.extractfile(member)
                if extracted is None:
                    continue
                _, _, inner = member.name.partition("/")
                if inner == "manifest.json":
                    manifest = json.load(extracted)
                    continue
                digest = hashlib.sha256()
                for chunk in iter(lambda: extracted.read(1 << 20), b""):
                    digest.update(chunk)
                digests[inner] = digest.hexdigest()
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        return [f"the archive cannot be read ({type(exc).__name__})"]
    if manifest is None:
        return ["the archive has no manifest.json"]
    for member, entry in manifest.get("files", {}).items():
        if member not in digests:
            problems.append(f"{member} is listed in the manifest but missing")
        elif digests[member] != entry.get("sha256"):
            problems.append(f"{member} does not match its checksum in the manifest")
    for member in sorted(digests.keys() - manifest.get("files", {}).keys()):
        problems.append(f"{member} is not listed in the manifest")
    return problems
