"""Taking the data elsewhere: an archive (API backup or imported export) into a ZIP another tool reads.

Every format is a writer ``(archive, ZipOut) -> generator`` that yields while it writes (so the ZIP can be
streamed as it grows) and returns the lines to tell the user. ``services/export_run.py`` opens the archive and
runs one; the command, the dashboard and the API call that service.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

from backups.archive import UnpackedArchive
from backups.exports.letterboxd import write_letterboxd
from backups.exports.sheets import write_csv
from backups.exports.trakt_files import write_trakt_files
from backups.exports.zipout import ZipOut

Writer = Callable[[UnpackedArchive, ZipOut], Generator[None, None, list[str]]]


@dataclass(frozen=True)
class Format:
    name: str  # the --format value and the URL's
    label: str  # for people: the dashboard's button
    write: Writer
    help: str


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("csv", "CSV", write_csv, "a ZIP of one CSV per kind of data, for spreadsheets"),
    Format("letterboxd", "Letterboxd", write_letterboxd,
           "the diary and watchlist CSVs Letterboxd's importer reads (films only)"),
    Format("trakt-import", "trakt import", write_trakt_files,
           "the files of trakt's export that trakt's own importer reads back"),
)}
