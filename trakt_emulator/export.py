"""Trakt's own data export of a seeded account: the ``trakt-export-{slug}.zip`` a user downloads from trakt.tv.

trakt's web site builds that ZIP in the browser (trakt/trakt-web, ``projects/client/src/lib/sections/settings/
export/runRawExport.ts``): it walks a fixed list of API endpoints, asks each for ``?page=N&limit=250`` until
``X-Pagination-Page-Count``, and writes every page it gets as one file, ``JSON.stringify(page, null, 2)`` or
CSV (``jsonToCsv.ts``).  This module walks the same list against the emulator's own read routing
(``reads.resolve_get``), so each file holds exactly what the API answers, page for page:

* ``kind.json`` when the endpoint answered one page (or is not paginated at all: settings, profile, stats,
  the lists, the network), ``kind-1.json`` … ``kind-N.json`` when it answered N > 1 pages;
* one ``lists-list-{traktId}-{slug}`` kind per list of ``lists-lists``, after the others;
* ``user-saved-filters`` for a VIP only (trakt answers 426 to anyone else, so the site leaves it out).

What trakt's export does not do by itself, for tests: a ``subfolder`` (users zip the unpacked folder again),
``truncate_history`` (the 2026 bug that kept only the newest plays, trakt-web PR #3152), ``errors`` (the
``_errors.json`` of a partial export) and fixed member timestamps, so the same account gives the same bytes.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from urllib.parse import parse_qsl

import orjson

from .reads import MAX_LIMIT, Obj, Paged, page_of, resolve_get
from .shared import EPISODE, SAVED_FILTER_SECTIONS

PAGE_LIMIT = 250  # what trakt-web asks for; the emulator's max_limit may clamp it lower, as trakt would

# kind -> (endpoint, query), in trakt-web's order; {slug} is the account's slug.  The kinds with no data in
# the emulator and the endpoints it does not serve are the two constants below the table.
EXPORT_TABLE = (
    ("user-settings", "/users/settings", "extended=sharing,browsing,gdpr"),
    ("user-profile", "/users/{slug}", "extended=full,vip"),
    ("user-last-activities", "/sync/last_activities", ""),
    ("user-stats", "/users/{slug}/stats", ""),
    ("user-saved-filters", "/users/saved_filters", ""),  # VIP only
    ("hidden-calendar", "/users/hidden/calendar", ""),
    ("hidden-progress-watched", "/users/hidden/progress_watched", ""),
    ("hidden-progress-watched-reset", "/users/hidden/progress_watched_reset", ""),
    ("hidden-progress-collected", "/users/hidden/progress_collected", ""),
    ("hidden-recommendations", "/users/hidden/recommendations", ""),
    ("network-followers-requests", "/users/requests", ""),
    ("network-followers", "/users/{slug}/followers", ""),
    ("network-following", "/users/{slug}/following", ""),
    ("network-friends", "/users/{slug}/friends", ""),
    ("likes-comments", "/users/likes/comments", ""),
    ("likes-lists", "/users/likes/lists", ""),
    ("comments-movies", "/users/{slug}/comments/all/movies", "include_replies=true"),
    ("comments-shows", "/users/{slug}/comments/all/shows", "include_replies=true"),
    ("comments-seasons", "/users/{slug}/comments/all/seasons", "include_replies=true"),
    ("comments-episodes", "/users/{slug}/comments/all/episodes", "include_replies=true"),
    ("comments-lists", "/users/{slug}/comments/all/lists", "include_replies=true"),
    ("notes-movies", "/users/{slug}/notes/movies", "extended=gdpr"),
    ("notes-shows", "/users/{slug}/notes/shows", "extended=gdpr"),
    ("notes-seasons", "/users/{slug}/notes/seasons", "extended=gdpr"),
    ("notes-episodes", "/users/{slug}/notes/episodes", "extended=gdpr"),
    ("notes-people", "/users/{slug}/notes/people", "extended=gdpr"),
    ("notes-activities", "/users/{slug}/notes/activities", "extended=gdpr"),
    ("notes-collection_items", "/users/{slug}/notes/collection_items", "extended=gdpr"),
    ("notes-ratings", "/users/{slug}/notes/ratings", "extended=gdpr"),
    ("ratings-movies", "/users/{slug}/ratings/movies", ""),
    ("ratings-shows", "/users/{slug}/ratings/shows", ""),
    ("ratings-seasons", "/users/{slug}/ratings/seasons", ""),
    ("ratings-episodes", "/users/{slug}/ratings/episodes", ""),
    ("watched-movies", "/users/{slug}/watched/movies", ""),
    # no extended=progress, as trakt-web: since 2026 its watched shows carry no seasons
    ("watched-shows", "/users/{slug}/watched/shows", ""),
    ("watched-history", "/users/{slug}/history", "extended=gdpr"),
    ("watched-playback", "/sync/playback", "extended=gdpr"),
    ("collection-movies", "/users/{slug}/collection/movies", "extended=metadata,gdpr"),
    ("collection-shows", "/users/{slug}/collection/shows", "extended=metadata,gdpr"),
    ("collection-episodes", "/users/{slug}/collection/episodes", "extended=metadata,gdpr"),
    ("lists-watchlist", "/users/{slug}/watchlist", ""),
    ("lists-favorites", "/users/{slug}/favorites", ""),
    ("lists-collaborations", "/users/{slug}/lists/collaborations", ""),
    ("lists-lists", "/users/{slug}/lists", ""),
)
# One more kind per list that lists-lists answered (its own lists, not the collaborations, as trakt-web).
LIST_ITEMS = ("lists-list-{trakt}-{list_slug}", "/users/{slug}/lists/{list_slug}/items", "")
VIP_ONLY = frozenset({"user-saved-filters"})

# Endpoints the emulator keeps no data for (its reads answer 404 there): written as one empty page, which is
# what trakt answers for an account with nothing there.
NO_EMULATOR_DATA = frozenset({
    "/users/{slug}/notes/people",  # the emulator's notes are on movies, shows, seasons and episodes only
    "/users/{slug}/notes/activities",
    "/users/{slug}/notes/collection_items",
    "/users/{slug}/notes/ratings",
})

ERRORS_FILE = "_errors.json"
ZIP_TIME = (2026, 7, 1, 0, 0, 0)  # every member's timestamp (the emulator's data anchor): same account, same bytes
CSV_BOM = "\ufeff"
FORMULA = re.compile(r"[=+\-@\t\r].*")  # cells Papa.unparse(escapeFormulae) prefixes with ' for spreadsheets


def _same(value):
    return value


def _collection_episodes(user, query: dict) -> Paged:
    """/collection/episodes, which the emulator does not serve: one row per episode of the collected shows, the
    same episodes and collected_at as collection-shows, newest first."""
    rows = []
    for record in user.collection_shows:
        rendered = user.render_coll_show(record, metadata=True)
        for season in rendered["seasons"]:
            for episode in season["episodes"]:
                row = {"collected_at": episode["collected_at"], "updated_at": episode["collected_at"]}
                row.update(user.catalog.media(EPISODE, record[1], season["number"], episode["number"]))
                if "metadata" in query.get("extended", "").split(","):
                    row["metadata"] = episode["metadata"]
                rows.append(row)
    rows.sort(key=lambda row: row["collected_at"], reverse=True)
    return Paged(rows, _same)


def _all_saved_filters(user, query: dict) -> Paged:
    """/users/saved_filters without a section (what trakt-web asks): every section's filters; the emulator
    serves them one section at a time."""
    rows = []
    for section in SAVED_FILTER_SECTIONS:
        rows += resolve_get(user, "/users/saved_filters/" + section, {}).all()
    return Paged(rows, _same)


# Endpoints the emulator does not serve but holds the data of: composed from what it does serve.
COMPOSED = {
    "/users/{slug}/collection/episodes": _collection_episodes,
    "/users/saved_filters": _all_saved_filters,
}


def _answer(user, endpoint: str, query: dict, **names):
    """What the API answers at `endpoint` (a template of EXPORT_TABLE) for `user`: Obj or Paged."""
    if endpoint in NO_EMULATOR_DATA:
        return Obj([])
    if endpoint in COMPOSED:
        return COMPOSED[endpoint](user, query)
    return resolve_get(user, endpoint.format(slug=user.slug, **names), query)


def _pages(answer, cap: int) -> list:
    """The pages trakt-web gets: page 1, 2, … until X-Pagination-Page-Count; an unpaginated answer is one page."""
    if isinstance(answer, Obj):
        return [answer.value]
    pages = []
    while True:
        items, headers = page_of(answer, {"page": str(len(pages) + 1), "limit": str(PAGE_LIMIT)}, cap)
        pages.append(items)
        if len(pages) >= int(headers["X-Pagination-Page-Count"]):
            return pages


def _endpoints(user):
    """(kind, endpoint, query, names) for every file of `user`'s export, in trakt-web's order."""
    for kind, endpoint, query in EXPORT_TABLE:
        if kind not in VIP_ONLY or user.vip:
            yield kind, endpoint, query, {}
    kind, endpoint, query = LIST_ITEMS
    for listed in resolve_get(user, "/users/me/lists", {}).value:
        names = {"trakt": listed["ids"]["trakt"], "list_slug": listed["ids"]["slug"]}
        yield kind.format(**names), endpoint, query, names


def export_members(user, *, cap: int = MAX_LIMIT, truncate_history: int | None = None,
                   csv: bool = False) -> list[tuple[str, bytes]]:
    """[(file name, content)] of `user`'s export.  `cap` is the installation's page cap (State.max_limit).

    Callers hold the user data lock (shared): some answers are the stored objects themselves."""
    extension, encode = ("csv", csv_bytes) if csv else ("json", json_bytes)
    members = []
    for kind, endpoint, query, names in _endpoints(user):
        answer = _answer(user, endpoint, dict(parse_qsl(query)), **names)
        if kind == "watched-history" and truncate_history is not None:
            # history is newest first: the truncated export is its head; user-stats keeps the real totals
            answer.hi = min(answer.hi, answer.lo + max(0, truncate_history))
        pages = _pages(answer, cap)
        for number, page in enumerate(pages, 1):
            suffix = "-%d" % number if len(pages) > 1 else ""
            members.append(("%s%s.%s" % (kind, suffix, extension), encode(page)))
    return members


def archive_name(slug: str, csv: bool = False) -> str:
    """The ZIP's name as trakt.tv offers it for download."""
    return "trakt-export-%s%s.zip" % (slug, "-csv" if csv else "")


def write_export(state, username: str, path, *, subfolder: str | None = None, truncate_history: int | None = None,
                 errors: list[dict] | None = None, csv: bool = False) -> Path:
    """Write `username`'s export to `path` (a folder gets archive_name inside it); returns the ZIP's path.

    `errors` ([{endpoint, error, fetchedPages, totalPages}]) becomes _errors.json, as in a partial export."""
    user = state.users.get(username)
    if user is None:
        raise KeyError("unknown user %r" % username)
    with state.data.shared():
        members = export_members(user, cap=state.max_limit, truncate_history=truncate_history, csv=csv)
    if errors is not None:
        members.append((ERRORS_FILE, json_bytes(list(errors))))
    if subfolder:
        members = [("%s/%s" % (subfolder.strip("/"), name), data) for name, data in members]
    target = Path(path)
    if target.is_dir():
        target = target / archive_name(user.slug, csv)
    write_zip(target, members)
    return target


def write_zip(path: Path, members: list[tuple[str, bytes]]) -> None:
    """A deflated ZIP whose bytes depend on the members only; written beside `path` and moved into place."""
    partial = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, wherever it runs
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    os.replace(partial, path)


# --------------------------------------------------------------------------- file formats


def json_bytes(value) -> bytes:
    """JSON.stringify(value, null, 2), as trakt-web writes a page (orjson; Python's json for what it refuses)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, indent=2).encode()


def csv_bytes(value) -> bytes:
    """A page as trakt-web's CSV: UTF-8 with a byte order mark; an empty page is an empty file (no BOM)."""
    text = json_to_csv(value)
    return (CSV_BOM + text).encode("utf-8") if text else b""


def json_to_csv(value) -> str:
    """trakt-web's jsonToCsv: one row per item (an object is one row), nested objects flattened into dotted
    columns (``movie.ids.trakt``), arrays and empty objects kept as JSON cells, the union of the rows' columns
    in order of appearance, CRLF between rows and none at the end."""
    if isinstance(value, dict) and not value:
        return ""
    rows = [_csv_row(item) for item in value] if isinstance(value, list) else [_csv_row(value)]
    fields = list(dict.fromkeys(field for row in rows for field in row))
    if not fields:
        return ""
    lines = [fields] + [[row.get(field) for field in fields] for row in rows]
    return "\r\n".join(",".join(_csv_text(cell) for cell in line) for line in lines)


def _csv_row(item) -> dict:
    if not isinstance(item, dict):
        return {"value": _csv_cell(item)}
    return _flatten(item) if item else {"value": _json_cell(item)}


def _flatten(record: dict, parent: str = "") -> dict:
    row = {}
    for key, value in record.items():
        field = "%s.%s" % (parent, key) if parent else key
        if isinstance(value, dict) and value:
            row.update(_flatten(value, field))
        else:
            row[field] = _csv_cell(value)
    return row


def _json_cell(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _csv_cell(value):
    """A scalar stays itself (None, str, bool, number); anything else becomes its compact JSON."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return _json_cell(value)


def _csv_text(cell) -> str:
    """One cell as Papa.unparse writes it: formula-like text prefixed with ' and quoted; quotes doubled; quoted
    when it holds a comma, a quote, a line break or a BOM, or starts or ends with a space."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, (int, float)):
        return str(int(cell)) if isinstance(cell, float) and cell.is_integer() else str(cell)  # as JavaScript
    quote = bool(FORMULA.fullmatch(cell))
    text = ("'" + cell if quote else cell).replace('"', '""')
    quote = quote or any(char in text for char in ',"\r\n\ufeff') or text[:1] == " " or text[-1:] == " "
    return '"%s"' % text if quote else text
