"""Reading trakt's own data export (a ZIP) as trakt writes it, defensively: it is an upload.

- Members are checked before anything is read: no path that leaves the folder (``../``, absolute), no link, no
  duplicate name; every file may sit in one subfolder (users zip the folder again).
- Pages: a file of 250 items gets a ``-{page}`` suffix only when there is more than one; pages 1..N are joined
  in order and a gap is an error. A list's file is ``lists-list-{traktId}-{slug}``: matched by id (slugs change),
  and a slug ending in ``-2025`` is only a page when ``-1`` … exist beside it.
- Inflating is measured, never trusted from the headers: the total and each member's ratio are limited while
  reading (``IMPORT_MAX_BYTES``, ``IMPORT_MAX_RATIO``), so a zip bomb stops before it is written.
- CSV exports are refused with a sentence (export JSON instead).
"""

from __future__ import annotations

import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings

from backups import codec
from backups.export_catalog import BY_KIND, KINDS_LONGEST_FIRST, LIST_ITEMS_KIND
from backups.services.grants import ServiceError

READ_CHUNK = 1 << 20
# A member's ratio is judged once this much of it is inflated (tiny files compress oddly).
RATIO_AFTER = 1 << 20
ERRORS_MEMBER = "_errors.json"
LIST_FILE = re.compile(r"^lists-list-(?P<id>\d+)-(?P<rest>.+)$")
PAGE = re.compile(r"^(?P<base>.+)-(?P<page>\d+)$")


class BadExport(ServiceError):
    """The upload is not a usable trakt export; the sentence says why. Nothing was stored."""


@dataclass
class ExportFile:
    """One file of the export, whole: its kind (and list id), and its members in page order."""

    kind: str
    members: list[str]
    list_id: str = ""


@dataclass
class Export:
    zip: zipfile.ZipFile
    folder: str  # "" or "the-subfolder/"
    files: list[ExportFile] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # members no row of the table knows: kept under extra/
    errors: Any = None  # _errors.json, as trakt wrote it
    left: int = field(default_factory=lambda: settings.IMPORT_MAX_BYTES)  # what it may still inflate, in all

    def read(self, member: str) -> Any:
        try:
            return codec.loads(self.inflate(member))
        except (ValueError, RecursionError):
            raise BadExport(f"{member} is not valid JSON: export again from trakt. Nothing was stored.") from None

    def inflate(self, member: str) -> bytes:
        """A member's bytes, stopping a zip bomb while it inflates: the whole export's total and the member's
        ratio are checked chunk by chunk, never trusted from the ZIP's headers."""
        info = self.zip.getinfo(self.folder + member)
        chunks, size = [], 0
        with self.zip.open(info) as handle:
            while chunk := handle.read(READ_CHUNK):
                size += len(chunk)
                self.left -= len(chunk)
                if self.left < 0:
                    raise BadExport(f"The export inflates to more than {settings.IMPORT_MAX_BYTES:,} bytes "
                                    "(IMPORT_MAX_BYTES): it is not a trakt export, or a larger one than this "
                                    "installation accepts. Nothing was stored.")
                if size > RATIO_AFTER and size > settings.IMPORT_MAX_RATIO * max(1, info.compress_size):
                    raise BadExport(f"{member} inflates more than {settings.IMPORT_MAX_RATIO} times: a ZIP bomb, "
                                    "not a trakt export. Nothing was stored.")
                chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.zip.close()


# -- the members -----------------------------------------------------------------------------------------


def _check_member(info: zipfile.ZipInfo) -> str:
    name = info.filename
    path = PurePosixPath(name)
    if name.startswith("/") or "\\" in name or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise BadExport("The ZIP holds a file whose path leaves its folder: it is not a trakt export. "
                        "Nothing was stored.")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise BadExport("The ZIP holds a link: it is not a trakt export. Nothing was stored.")
    return name


def _files_of(zf: zipfile.ZipFile) -> tuple[str, list[str]]:
    """(the subfolder, "" or "name/"; the file names inside it) after checking every member."""
    names = [_check_member(info) for info in zf.infolist() if not info.is_dir()]
    if len(names) != len(set(names)):
        raise BadExport("The ZIP holds two files of the same name: it is not a trakt export. Nothing was stored.")
    if not names:
        raise BadExport("The ZIP is empty: export your data again from trakt's settings page.")
    folders = {name.split("/")[0] + "/" if "/" in name else "" for name in names}
    if len(folders) != 1 or any(name.count("/") > 1 for name in names):
        raise BadExport("The ZIP does not look like a trakt export (its files should sit together, at most in one "
                        "folder). Nothing was stored.")
    folder = folders.pop()
    return folder, [name[len(folder):] for name in names]


def _pages(stems: list[str]) -> list[str] | None:
    """The stems of one file's pages in order, or None when they are not pages 1..N of one base."""
    numbered = [PAGE.match(stem) for stem in stems]
    if not all(numbered) or len({m["base"] for m in numbered}) != 1:
        return None
    by_page = {int(m["page"]): m.string for m in numbered}
    if sorted(by_page) != list(range(1, len(stems) + 1)):
        return None
    return [by_page[page] for page in sorted(by_page)]


def _group(stems: list[str]) -> dict[tuple[str, str], list[str]]:
    """Stems by (kind, list id); a stem of no known kind goes under ("", stem)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for stem in stems:
        listed = LIST_FILE.match(stem)
        if listed:
            key = (LIST_ITEMS_KIND, listed["id"])
        else:
            kind = next((k for k in KINDS_LONGEST_FIRST if k != LIST_ITEMS_KIND and (
                stem == k or (stem.startswith(k + "-") and stem[len(k) + 1:].isdigit()))), "")
            key = (kind, "" if kind else stem)
        groups.setdefault(key, []).append(stem)
    return groups


def _ordered(kind: str, stems: list[str]) -> list[str]:
    if len(stems) == 1:
        return stems  # one page, whatever its name ends with ("best-of-2025")
    pages = _pages(stems)
    if pages is None:
        raise BadExport(f"The export's {kind} files are not pages 1 to {len(stems)} of one file (one is missing, or "
                        "two differ): export again from trakt. Nothing was stored.")
    return pages


def open_export(path: Path) -> Export:
    """The export's files, grouped and ordered; BadExport with a sentence for anything that is not one."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise BadExport("That file is not a ZIP: upload the trakt-export-….zip file trakt's settings page gives "
                        "you, as it is.") from None
    try:
        folder, names = _files_of(zf)
        if any(name.lower().endswith(".csv") for name in names):
            raise BadExport("This export is in CSV; this app reads trakt's JSON export: choose JSON on trakt's "
                            "export page and import that one.")
        export = Export(zf, folder, errors=None)
        stems = [name.removesuffix(".json") for name in names if name.endswith(".json") and name != ERRORS_MEMBER]
        export.unknown = sorted(name for name in names if not name.endswith(".json"))
        for (kind, key), group in sorted(_group(stems).items()):
            if not kind:
                export.unknown.extend(f"{stem}.json" for stem in group)
                continue
            members = [f"{stem}.json" for stem in _ordered(kind, group)]
            export.files.append(ExportFile(kind, members, list_id=key if kind == LIST_ITEMS_KIND else ""))
        if ERRORS_MEMBER in names:
            export.errors = export.read(ERRORS_MEMBER)
        if not export.files:
            raise BadExport("The ZIP holds none of the files of a trakt export. Nothing was stored.")
        return export
    except BaseException:
        zf.close()
        raise


# -- reading the files ------------------------------------------------------------------------------------


def items(export: Export, file: ExportFile) -> Iterator[list]:
    """A list file's items, page by page (a page holds 250 items at most: memory stays flat)."""
    for member in file.members:
        value = export.read(member)
        if not isinstance(value, list):
            raise BadExport(f"{member} holds {type(value).__name__}, where a trakt export has a list: export again "
                            "from trakt. Nothing was stored.")
        yield value


def whole(export: Export, file: ExportFile) -> Any:
    """A file that is one JSON value (settings, stats): of the shape the table says."""
    value = export.read(file.members[0])
    shape = BY_KIND[file.kind].shape
    if not isinstance(value, shape):
        raise BadExport(f"{file.members[0]} holds {type(value).__name__}, where a trakt export has "
                        f"{'an object' if shape is dict else 'a list'}: export again from trakt. Nothing was stored.")
    return value
