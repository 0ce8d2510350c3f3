"""The index of an archive that the browse pages read: a SQLite file with FTS5, a cache of the archive.

One index per archive content: ``DATA_DIR/index/<sha256 of the archive file>.sqlite3``, so backups that share a
file share its index. It is never the source of truth: it can be deleted at any time and is built again from the
archive (from the archive storage, S3 included) the next time the archive is opened; retention deletes it with
the last backup of its file. A build writes a temporary file beside it and renames it into place, so a reader
never sees half an index, and two builds of one archive at once are harmless.

Every item of the archive is one row, in the section of the CSV export's table (``exports/sheets.py``: history,
ratings, watchlist, …) with the columns a page filters and sorts on (type, title, show, date, rating, list) and
the item itself as JSON; titles and shows are in an FTS5 table for search. Pages read it with indexed queries,
a page at a time, so their time does not grow with the archive's size.
"""

from __future__ import annotations

import functools
import json
import logging
import operator
import os
import re
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache

from backups import archive, codec
from backups.exports.letterboxd import account_zone
from backups.exports.sheets import MEDIA_HEADER, SHEETS, Sheet, dig, list_names, media_cells
from backups.models import Backup
from backups.services import charts

log = logging.getLogger(__name__)

VERSION = "4"  # of the index's layout: an index of another version is built again
BATCH = 5000
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    id INTEGER PRIMARY KEY, section TEXT NOT NULL, file TEXT NOT NULL, type TEXT, title TEXT, year INTEGER,
    show TEXT, season INTEGER, episode INTEGER, trakt INTEGER, show_trakt INTEGER, at TEXT, rating INTEGER,
    list_id TEXT, list TEXT, data TEXT NOT NULL, ident TEXT NOT NULL, state TEXT, ref TEXT);
CREATE VIRTUAL TABLE titles USING fts5(title, show, content='items', content_rowid='id',
                                       tokenize='unicode61 remove_diacritics 2');
"""
# What the pages filter on: one index per filter of a large section (history's type and show; a rating or a
# list narrows sections small enough to scan, and each index costs a tenth of a second of the build).
INDEXES = """
CREATE INDEX items_by_date ON items (section, at DESC, id DESC);
CREATE INDEX items_by_type ON items (section, type, at DESC, id DESC);
CREATE INDEX items_by_show ON items (section, show_trakt, at DESC, id DESC);
CREATE INDEX items_by_ident ON items (section, ident);
CREATE INDEX items_by_ref ON items (section, ref) WHERE ref IS NOT NULL;
"""
COLUMNS = ("section", "file", "type", "title", "year", "show", "season", "episode", "trakt", "show_trakt", "at",
           "rating", "list_id", "list", "data", "ident", "state", "ref")
BY_NAME = {sheet.name: sheet for sheet in SHEETS}


def index_path(sha256: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
        raise ValueError("an index is named after an archive's sha256")
    return Path(settings.DATA_DIR) / "index" / f"{sha256}.sqlite3"


def is_ready(backup: Backup) -> bool:
    path = index_path(backup.sha256)
    if not path.is_file():
        return False
    try:
        with closing(_connect(path)) as db:
            return db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone() == (VERSION,)
    except sqlite3.DatabaseError:
        return False


INDEXED_MEDIA = operator.itemgetter(*(MEDIA_HEADER.index(name) for name in (
    "type", "title", "year", "show", "season", "episode", "trakt", "show_trakt")))


def _row(sheet: Sheet, file: str, item: Any, names: dict[str, str], copies: Counter[str]) -> tuple:
    """The item's row. Its ``ident`` is what it is, for comparing two backups, with the number of its copy (two
    plays of one episode at one time), counted in COPIES. The JSON goes in as text: as bytes (BLOBs) the build
    took 75 MB more memory."""
    if sheet.media is None:  # lists, likes, people, filters: their own name is the title
        kind = title = year = show = season = episode = trakt = show_trakt = None
        title = dig(item, "name|list.name|user.username|comment.comment")
    else:
        kind, title, year, show, season, episode, trakt, show_trakt = INDEXED_MEDIA(media_cells(sheet.media_of(item)))
    list_id = file.split("/")[-2] if sheet.per_list else None
    rating = dig(item, "rating")
    at = dig(item, sheet.date) if sheet.date else None
    own = dig(item, sheet.key) if sheet.key else None
    what = f"{kind}:{trakt}" if trakt is not None else f"{kind}:{title}:{year}:{show}:{season}:{episode}"
    ident = f"{file}|{what}|{at}" if sheet.pair_by else f"{file}|{what if own is None else own}"
    copies[ident] += 1
    state = codec.dumps(sheet.compared_values(item)).decode() if sheet.compared else None
    ref = dig(item, sheet.pair_by) if sheet.pair_by else None
    return (sheet.name, file, kind, title, year, show, season, episode, trakt, show_trakt, at,
            rating if type(rating) is int else None, list_id, names.get(list_id or ""), codec.dumps(item).decode(),
            f"{ident}#{copies[ident]}", state, None if ref is None else str(ref))


DATA = COLUMNS.index("data")


def _rows(source: archive.UnpackedArchive) -> Iterator[tuple]:
    """Every item's row, sheet by sheet."""
    names = list_names(source)
    members = sorted(m for m in source.files if m.endswith(".json"))
    for sheet in SHEETS:
        copies: Counter[str] = Counter()
        for member in members:
            file = member.removesuffix(".json")
            if sheet.holds(file):
                for item in source.items(member):
                    yield _row(sheet, file, item, names, copies)


def build(backup: Backup) -> Path:
    """Build the index of the backup's archive (unpacked into a temporary folder meanwhile); its path. A damaged
    archive (DamagedArchive) is recorded as such and indexed never."""
    from backups.services.backup_run import open_backup  # backup_run imports retention, which imports this

    with tempfile.TemporaryDirectory(prefix="index-") as work:
        try:
            source = open_backup(backup, Path(work) / "archive")
        except archive.DamagedArchive:
            backup.record_verification(False)  # never indexed, served or restored as good from now on
            raise
        return _write(backup, source)


def build_queued(backup: Backup) -> Path:
    """The worker's build (``ensure`` queued it): the next open of a page may queue another once it is over."""
    try:
        return build(backup)
    finally:
        cache.delete(building_key(backup.sha256))


def _write(backup: Backup, source: archive.UnpackedArchive) -> Path:
    path = index_path(backup.sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(partial)) as db:
            db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
            insert = f"INSERT INTO items ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
            rows = _rows(source)
            while batch := [row for _, row in zip(range(BATCH), rows)]:
                db.executemany(insert, batch)
            db.executescript(INDEXES + "INSERT INTO titles(titles) VALUES ('rebuild');")
            db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("version", VERSION), ("sha256", backup.sha256), ("archive", backup.archive_name),
                ("summary", json.dumps(_summary(db))),
                ("charts", json.dumps(charts.compute(db, account_zone(source))))])
            db.commit()
        os.chmod(partial, 0o600)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    log.info("browse index of %s built (%s)", backup.archive_name, path.name)
    return path


def _summary(db: sqlite3.Connection) -> dict:
    """What every page shows and would otherwise count again at each view: items, types and ratings per section,
    and the lists."""
    summary: dict = {"counts": dict(db.execute("SELECT section, COUNT(*) FROM items GROUP BY section").fetchall()),
                     "types": {}, "ratings": {}}
    for section, kind in db.execute("SELECT DISTINCT section, type FROM items WHERE type IS NOT NULL ORDER BY 2"):
        summary["types"].setdefault(section, []).append(kind)
    for section, rating in db.execute("SELECT DISTINCT section, rating FROM items WHERE rating IS NOT NULL "
                                      "ORDER BY 2 DESC"):
        summary["ratings"].setdefault(section, []).append(rating)
    summary["lists"] = db.execute("SELECT DISTINCT list_id, list FROM items WHERE section = 'list-items' "
                                  "ORDER BY list, list_id").fetchall()
    return summary


def forget(sha256: str) -> None:
    """Delete the index of an archive file that no backup holds any more."""
    if sha256 and not Backup.objects.filter(sha256=sha256).exists():
        try:
            index_path(sha256).unlink(missing_ok=True)
        except ValueError:
            pass


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


# -- reading ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What a browse page asks for; every value is untrusted text from the query string."""

    section: str
    q: str = ""
    type: str = ""
    since: str = ""  # YYYY-MM-DD
    until: str = ""
    rating: str = ""
    list_id: str = ""
    show: str = ""  # a show's trakt id

    @property
    def narrowed(self) -> bool:
        return len(self.where()[1]) > 1

    def where(self) -> tuple[str, list]:
        clauses, values = ["section = ?"], [self.section]
        if self.q.strip():
            clauses.append("id IN (SELECT rowid FROM titles WHERE titles MATCH ?)")
            values.append(fts_query(self.q))
        for column, value in (("type", self.type), ("list_id", self.list_id)):
            if value:
                clauses.append(f"{column} = ?")
                values.append(value)
        for column, value in (("rating", self.rating), ("show_trakt", self.show)):
            if value.isdigit() and len(value) < 12:
                clauses.append(f"{column} = ?")
                values.append(int(value))
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", self.since):
            clauses.append("at >= ?")
            values.append(self.since)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", self.until):
            clauses.append("at < ?")
            values.append(self.until + "T99")  # the whole day: any time on it sorts before "T99"
        return " AND ".join(clauses), values


def fts_query(text: str) -> str:
    """Words of a search as an FTS5 query of prefixes, every word needed: no operator of the user's gets through."""
    words = re.findall(r"\w+", text)[:10]
    return " ".join('"' + word.replace('"', '""') + '"*' for word in words) or '""'


class Results:
    """The items a filter selects, newest first, as Django's Paginator reads them (count, then one slice)."""

    def __init__(self, db: sqlite3.Connection, filters: Filters, total: int | None = None):
        self.db, self.filters, self.total = db, filters, total
        self._where, self._values = filters.where()

    def count(self) -> int:
        if self.total is not None:  # a whole section: counted when the index was built
            return self.total
        return self.db.execute(f"SELECT COUNT(*) FROM items WHERE {self._where}", self._values).fetchone()[0]

    def __getitem__(self, window: slice) -> list[dict]:
        start, stop = window.start or 0, window.stop
        rows = self.db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM items WHERE {self._where} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
            [*self._values, stop - start, start]).fetchall()
        return [{**dict(zip(COLUMNS, row)), "data": json.loads(row[DATA])} for row in rows]


class Index:
    """An archive's index, open for reading (close it, or use it in ``with``)."""

    def __init__(self, backup: Backup):
        self.db = _connect(index_path(backup.sha256))

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc) -> None:
        self.db.close()

    @functools.cached_property
    def summary(self) -> dict:
        return json.loads(self.db.execute("SELECT value FROM meta WHERE key = 'summary'").fetchone()[0])

    @functools.cached_property
    def charts(self) -> dict:
        """The numbers of the charts (``services/charts.compute``), counted when the index was built."""
        return json.loads(self.db.execute("SELECT value FROM meta WHERE key = 'charts'").fetchone()[0])

    def sections(self) -> list[tuple[Sheet, int]]:
        counts = self.summary["counts"]
        return [(sheet, counts[sheet.name]) for sheet in SHEETS if counts.get(sheet.name)]

    def types(self, section: str) -> list[str]:
        return self.summary["types"].get(section, [])

    def ratings(self, section: str) -> list[int]:
        return self.summary["ratings"].get(section, [])

    def lists(self) -> list[tuple[str, str]]:
        """(list id, name) of the lists whose items the archive holds."""
        return [tuple(pair) for pair in self.summary["lists"]]

    def results(self, filters: Filters) -> Results:
        return Results(self.db, filters, total=None if filters.narrowed else self.summary["counts"].get(
            filters.section, 0))


INLINE_MAX_BYTES = 1_000_000  # archives up to this size are indexed in the request (well under a second)


def building_key(sha256: str) -> str:
    """The cache key held while a worker builds the index (so a page opened again does not queue another)."""
    return f"browse-index-building:{sha256}"


def ensure(backup: Backup) -> bool:
    """True when the index is ready; else build it here (a small archive) or hand it to a worker (False)."""
    from django_q.tasks import async_task

    if is_ready(backup):
        return True
    if (backup.size or 0) <= INLINE_MAX_BYTES:
        build(backup)
        return True
    if cache.add(building_key(backup.sha256), 1, 15 * 60):  # one build per archive at a time
        async_task("backups.tasks.build_browse_index", backup.pk, task_name=f"index-{backup.pk}",
                   group="browse-index")
    return is_ready(backup)  # the tests' queue (and a fast worker) has built it already
