"""Compare two backups of an account: per section, which items were added, removed and changed.

It reads the two archives' browse indexes (``browse_index``), attached to one in-memory SQLite connection, so two
heavy archives compare in SQL without unpacking either. An item is its ``ident`` (the section's table in
``exports/sheets.py`` says what identifies an item: its own id, or the media it is about, within its file): an
ident on one side only was added or removed; on both sides with other values of the section's ``compared``
columns (a rating's value, a list's name, a show's plays) it changed. History is a multiset of (item, watched
at): two plays of one episode at one time are two items, and a play gone from the older backup whose own id
came back in the newer one at another time is one changed play, not a removal and an addition.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from backups.exports.sheets import SHEETS, Sheet
from backups.models import Backup
from backups.services import browse_index

KINDS = ("removed", "added", "changed")
SHOWN = ("section", "file", "type", "title", "year", "show", "season", "episode", "show_trakt", "at", "rating",
         "list_id", "list", "state")
# Work tables of one comparison: rows of the older backup not in the newer (gone), of the newer not in the older
# (came), plays paired by their own id (moved), and items on both sides with other values (altered).
WORK = """
CREATE TEMP TABLE gone AS SELECT x.id, x.section, x.ref FROM older.items x WHERE NOT EXISTS (
    SELECT 1 FROM newer.items y WHERE y.section = x.section AND y.ident = x.ident);
CREATE TEMP TABLE came AS SELECT y.id, y.section, y.ref FROM newer.items y WHERE NOT EXISTS (
    SELECT 1 FROM older.items x WHERE x.section = y.section AND x.ident = y.ident);
CREATE INDEX temp.came_by_ref ON came (section, ref);
CREATE TEMP TABLE moved AS SELECT g.section, g.id AS old, MIN(c.id) AS new FROM gone g
    JOIN came c ON c.section = g.section AND c.ref = g.ref WHERE g.ref IS NOT NULL GROUP BY g.id;
CREATE TEMP TABLE altered AS SELECT x.section, x.id AS old, y.id AS new FROM older.items x
    JOIN newer.items y ON y.section = x.section AND y.ident = x.ident WHERE x.state IS NOT y.state;
"""
# The items of one kind in one section, as (id in the older index, id in the newer index), newest first.
PAIRS = {
    "removed": "SELECT g.id, NULL, x.at FROM gone g JOIN older.items x ON x.id = g.id WHERE g.section = :section "
               "AND g.id NOT IN (SELECT old FROM moved)",
    "added": "SELECT NULL, c.id, y.at FROM came c JOIN newer.items y ON y.id = c.id WHERE c.section = :section "
             "AND c.id NOT IN (SELECT new FROM moved)",
    "changed": "SELECT p.old, p.new, y.at FROM (SELECT section, old, new FROM altered UNION ALL "
               "SELECT section, old, new FROM moved) p JOIN newer.items y ON y.id = p.new WHERE p.section = :section",
}


@dataclass(frozen=True)
class Counts:
    sheet: Sheet
    removed: int
    added: int
    changed: int

    @property
    def total(self) -> int:
        return self.removed + self.added + self.changed


@dataclass
class Change:
    """One item of a comparison: ``before`` and ``after`` are its rows (None on the side that lacks it)."""

    kind: str
    before: dict | None
    after: dict | None
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)  # (what, before, after) of a change

    @property
    def item(self) -> dict:
        return self.after or self.before or {}


def pick(backup: Backup, other_pk: str | int | None) -> tuple[Backup, Backup] | None:
    """(older, newer): the backup and the one asked for, or the one before it; None when there is none. The
    other backup is looked up among the same account's successful backups (never another account's)."""
    others = Backup.objects.filter(account_id=backup.account_id, status=Backup.Status.SUCCESS).exclude(pk=backup.pk)
    if other_pk:
        other = others.filter(pk=int(other_pk)).first() if str(other_pk).isdigit() else None
    else:
        other = others.filter(created__lt=backup.created).order_by("-created").first()
    if other is None:
        return None
    return (other, backup) if (other.created, other.pk) < (backup.created, backup.pk) else (backup, other)


class Comparison:
    """The differences between two indexed backups (older, newer); close it, or use it in ``with``."""

    def __init__(self, older: Backup, newer: Backup):
        self.older, self.newer = older, newer
        self.db = sqlite3.connect("file::memory:", uri=True)
        for name, backup in (("older", older), ("newer", newer)):
            path = browse_index.index_path(backup.sha256)
            self.db.execute("ATTACH DATABASE ? AS " + name, (f"file:{path}?mode=ro",))
        self.db.executescript(WORK)

    def __enter__(self) -> Comparison:
        return self

    def __exit__(self, *exc) -> None:
        self.db.close()

    def counts(self) -> list[Counts]:
        """Every section either backup holds, in the table's order, with its numbers of changes."""
        present = {name for (name,) in self.db.execute(
            "SELECT DISTINCT section FROM older.items UNION SELECT DISTINCT section FROM newer.items")}
        return [Counts(sheet, *(self._count(sheet.name, kind) for kind in KINDS))
                for sheet in SHEETS if sheet.name in present]

    def _count(self, section: str, kind: str) -> int:
        return self.db.execute(f"SELECT COUNT(*) FROM ({PAIRS[kind]})", {"section": section}).fetchone()[0]

    def changes(self, section: str, kind: str, offset: int = 0, limit: int = 50) -> list[Change]:
        """One window of the items of a kind in a section, newest first, with what changed of each."""
        pairs = self.db.execute(f"{PAIRS[kind]} ORDER BY 3 DESC, 1, 2 LIMIT :limit OFFSET :offset",
                                {"section": section, "limit": limit, "offset": offset}).fetchall()
        before = self._rows("older", [old for old, _, _ in pairs if old is not None])
        after = self._rows("newer", [new for _, new, _ in pairs if new is not None])
        return [_change(kind, before.get(old), after.get(new)) for old, new, _ in pairs]

    def _rows(self, side: str, ids: list[int]) -> dict[int, dict]:
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        rows = self.db.execute(f"SELECT id, {', '.join(SHOWN)} FROM {side}.items WHERE id IN ({marks})", ids)
        return {row[0]: dict(zip(SHOWN, row[1:])) for row in rows}


def _change(kind: str, before: dict | None, after: dict | None) -> Change:
    change = Change(kind, before, after)
    if before and after:
        if before["at"] != after["at"] and before["state"] is None:  # a play whose time changed
            change.fields.append(("time", before["at"], after["at"]))
        old, new = json.loads(before["state"] or "{}"), json.loads(after["state"] or "{}")
        change.fields += [(name, old.get(name), new.get(name)) for name in new if old.get(name) != new.get(name)]
    return change
