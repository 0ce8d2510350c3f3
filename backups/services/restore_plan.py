"""The plan of a restore: what the chosen archive holds that the account no longer does, per category.

Pure functions of two archives' values (the chosen one, and the safety backup taken just before: the account as
it is now). Matching is by media: an item of the archive is on trakt when any of its ids (trakt first, then
tmdb, imdb, tvdb, slug) names an item there of the same type. Every value comes from trakt or an upload: it is
read defensively (a malformed item is left out of the plan and counted, never a crash).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from backups.restore_catalog import Restorable, Way

ID_ORDER = ("trakt", "tmdb", "imdb", "tvdb", "slug")
MEDIA_TYPES = ("movie", "show", "season", "episode", "person")
# How long a title shown in a plan may be (trakt's text, shown escaped).
TITLE_LENGTH = 120


@dataclass(frozen=True)
class Write:
    """One item to post: its group in the body ("movies", "shows", …), the entry, and what a person reads."""

    group: str
    entry: dict
    title: str
    when: str = ""  # the watched_at / rated_at / collected_at shown beside the title


@dataclass
class CategoryPlan:
    file: str  # the archive file ("sync/history"), or "users/lists/<id>/items" for one list's items
    label: str
    endpoint: str
    archive: int = 0  # items in the archive
    current: int = 0  # items on trakt now
    missing: list[Write] = field(default_factory=list)
    different: int = 0  # of the missing ones, how many are there with another value (a rating)
    idempotent: bool = True
    list_name: str = ""  # a list's items: the list they go to (by name)

    @property
    def to_write(self) -> int:
        return len(self.missing)


# -- media -----------------------------------------------------------------------------------------


def _ids(media: Any) -> dict:
    ids = media.get("ids") if isinstance(media, dict) else None
    return {k: v for k, v in ids.items() if k in ID_ORDER and isinstance(v, (int, str)) and not isinstance(v, bool)
            and str(v)} if isinstance(ids, dict) else {}


def media_of(item: Any) -> tuple[str, dict] | None:
    """(type, the media object) of an item of a sync answer: {"type": "movie", "movie": {...}}."""
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind not in MEDIA_TYPES:
        kind = next((k for k in ("episode", "season", "movie", "show", "person") if isinstance(item.get(k), dict)),
                    None)
    media = item.get(kind) if kind else None
    return (kind, media) if isinstance(media, dict) and _ids(media) else None


def keys_of(kind: str, media: dict) -> list[tuple]:
    """Every key the media can be found by, trakt's id first."""
    ids = _ids(media)
    return [(kind, name, str(ids[name])) for name in ID_ORDER if name in ids]


class MediaIndex:
    """The items of one category on trakt now, found by any of their ids."""

    def __init__(self, items: Iterable[tuple[str, dict, Any]]):
        self._by_key: dict[tuple, Any] = {}
        for kind, media, value in items:
            for key in keys_of(kind, media):
                self._by_key.setdefault(key, value)

    def find(self, kind: str, media: dict) -> tuple[tuple | None, Any]:
        """(the key it was found by, its value), or (None, None)."""
        for key in keys_of(kind, media):
            if key in self._by_key:
                return key, self._by_key[key]
        return None, None


def title_of(item: dict, kind: str, media: dict) -> str:
    """"The Paper Signal (2015)", "Lost Kingdom 2x05", for a person reading a plan."""
    show = item.get("show") if isinstance(item.get("show"), dict) else {}
    if kind == "episode":
        text = f"{show.get('title') or '?'} {media.get('season', '?')}x{str(media.get('number', '?')).zfill(2)}"
    elif kind == "season":
        text = f"{show.get('title') or '?'} season {media.get('number', '?')}"
    else:
        text = str(media.get("title") or media.get("name") or "?")
        if media.get("year"):
            text += f" ({media['year']})"
    return text[:TITLE_LENGTH]


def second(value: Any) -> str:
    """A trakt time to the second, as trakt accepts it back ("2026-04-20T16:10:03Z"); "" when unreadable."""
    if not isinstance(value, str):
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return ""
    moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the ways ----------------------------------------------------------------------------------------


def _items(value: Any) -> list:
    return value if isinstance(value, list) else []


def _media_items(value: Any) -> Iterator[tuple[dict, str, dict]]:
    for item in _items(value):
        found = media_of(item)
        if found:
            yield item, *found


def _plays(row: Restorable, archive: Any, current: Any) -> CategoryPlan:
    """History: a multiset. An item watched 3 times at given times in the archive and once now misses 2 plays."""
    plan = CategoryPlan(row.file, row.label, row.endpoint, idempotent=row.idempotent)
    index = MediaIndex((kind, media, keys_of(kind, media)[0]) for _, kind, media in _media_items(current))
    now = Counter()
    for item, kind, media in _media_items(current):
        now[(keys_of(kind, media)[0], second(item.get("watched_at")))] += 1
        plan.current += 1
    for item, kind, media in _media_items(archive):
        plan.archive += 1
        when = second(item.get("watched_at"))
        if kind not in ("movie", "episode") or not when:
            continue
        _, key = index.find(kind, media)  # the play's media as trakt knows it now
        if key is not None and now[(key, when)] > 0:
            now[(key, when)] -= 1
            continue
        plan.missing.append(Write(kind + "s", {"ids": _ids(media), "watched_at": when},
                                  title_of(item, kind, media), when))
    return plan


def _rated(row: Restorable, archive: Any, current: Any) -> CategoryPlan:
    plan = CategoryPlan(row.file, row.label, row.endpoint)
    ratings = list(_media_items(current))
    index = MediaIndex((kind, media, item.get("rating")) for item, kind, media in ratings)
    plan.current = len(ratings)
    for item, kind, media in _media_items(archive):
        plan.archive += 1
        rating = item.get("rating")
        if not (isinstance(rating, int) and 1 <= rating <= 10):
            continue
        key, now = index.find(kind, media)
        if key is not None and now == rating:
            continue
        plan.different += key is not None
        entry = {"ids": _ids(media), "rating": rating}
        if second(item.get("rated_at")):
            entry["rated_at"] = second(item.get("rated_at"))
        plan.missing.append(Write(kind + "s", entry, title_of(item, kind, media), f"rated {rating}"))
    return plan


def _listed(row: Restorable, archive: Any, current: Any) -> CategoryPlan:
    plan = CategoryPlan(row.file, row.label, row.endpoint)
    present = list(_media_items(current))
    index = MediaIndex((kind, media, True) for _, kind, media in present)
    plan.current = len(present)
    for item, kind, media in _media_items(archive):
        plan.archive += 1
        if index.find(kind, media)[0] is None:
            plan.missing.append(Write(kind + "s", {"ids": _ids(media)}, title_of(item, kind, media)))
    return plan


def _collected_entries(value: Any) -> Iterator[tuple[tuple, Write]]:
    """(match key, write) of every collected movie, and of every collected episode of every show."""
    for item in _items(value):
        if not isinstance(item, dict):
            continue
        metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        if isinstance(item.get("movie"), dict) and _ids(item["movie"]):
            movie = item["movie"]
            entry = {"ids": _ids(movie), **metadata, "collected_at": second(item.get("collected_at"))}
            yield ("movie", movie), Write("movies", entry, title_of(item, "movie", movie), entry["collected_at"])
        elif isinstance(item.get("show"), dict) and _ids(item["show"]):
            yield from _collected_episodes(item)


def _collected_episodes(item: dict) -> Iterator[tuple[tuple, Write]]:
    show = item["show"]
    for season in _items(item.get("seasons")):
        for episode in _items(season.get("episodes") if isinstance(season, dict) else None):
            if not (isinstance(episode, dict) and isinstance(episode.get("number"), int)
                    and isinstance(season.get("number"), int)):
                continue
            metadata = episode.get("metadata") if isinstance(episode.get("metadata"), dict) else {}
            when = second(episode.get("collected_at"))
            entry = {"ids": _ids(show), "seasons": [{"number": season["number"], "episodes": [
                {"number": episode["number"], **metadata, "collected_at": when}]}]}
            title = f"{str(show.get('title') or '?')[:TITLE_LENGTH]} {season['number']}x{episode['number']:02}"
            yield ("show", show, season["number"], episode["number"]), Write("shows", entry, title, when)


def _collected(row: Restorable, archive: Any, current: Any) -> CategoryPlan:
    """Collected movies, and collected episodes of shows (a show is matched by its ids, an episode by number)."""
    plan = CategoryPlan(row.file, row.label, row.endpoint)
    present = list(_collected_entries(current))
    plan.current = len(present)
    canonical = MediaIndex((key[0], key[1], keys_of(key[0], key[1])[0]) for key, _ in present)
    held = {(keys_of(key[0], key[1])[0], key[2:]) for key, _ in present}
    for key, write in _collected_entries(archive):
        plan.archive += 1
        _, found = canonical.find(key[0], key[1])
        if found is None or (found, key[2:]) not in held:
            plan.missing.append(write)
    return plan


def _noted(value: Any) -> Iterator[tuple[dict, str, dict, str]]:
    """(note, type, media, text) of every readable note: {"notes": "…", "item": {"type": "movie", "movie": …}}."""
    for note in _items(value):
        found = media_of(note.get("item")) if isinstance(note, dict) else None
        if found and isinstance(note.get("notes"), str) and note["notes"].strip():
            yield note, *found, note["notes"]


def _notes(row: Restorable, archive: Any, current: Any) -> CategoryPlan:
    """Notes: a multiset of (media, text); a missing one is posted with its privacy and spoiler flag."""
    plan = CategoryPlan(row.file, row.label, row.endpoint, idempotent=row.idempotent)
    present = list(_noted(current))
    index = MediaIndex((kind, media, keys_of(kind, media)[0]) for _, kind, media, _ in present)
    now = Counter((keys_of(kind, media)[0], text) for _, kind, media, text in present)
    plan.current = len(present)
    for note, kind, media, text in _noted(archive):
        plan.archive += 1
        _, key = index.find(kind, media)
        if key is not None and now[(key, text)] > 0:
            now[(key, text)] -= 1
            continue
        body = {"item": {"type": kind, kind: {"ids": _ids(media)}}, "notes": text[:500],
                "privacy": note.get("privacy") or "private", "spoiler": bool(note.get("spoiler"))}
        plan.missing.append(Write("note", body, title_of(note["item"], kind, media), text[:60]))
    return plan


WAYS: dict[Way, Callable[[Restorable, Any, Any], CategoryPlan]] = {
    Way.PLAYS: _plays, Way.RATED: _rated, Way.LISTED: _listed, Way.COLLECTED: _collected, Way.NOTES: _notes,
}


def plan_category(row: Restorable, archive: Any, current: Any) -> CategoryPlan:
    """What of ``archive`` (the category's value in the chosen archive) ``current`` (its value now) lacks."""
    return WAYS[row.way](row, archive, current)


# -- lists: matched by name ------------------------------------------------------------------------------

LIST_SETTINGS = ("name", "description", "privacy", "display_numbers", "allow_comments", "sort_by", "sort_how")


def _list_id(entry: Any) -> str | None:
    value = _ids(entry).get("trakt")
    return str(value) if value is not None and str(value).isdigit() else None


def _named_lists(value: Any) -> dict[str, dict]:
    """The personal lists of an index by name (the first of a name wins), with a usable trakt id."""
    lists: dict[str, dict] = {}
    for entry in _items(value):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"] and _list_id(entry):
            lists.setdefault(entry["name"], entry)
    return lists


@dataclass
class ListTarget:
    """Where the items of an archive's list go: the list of the same name now, or one to create."""

    archive_id: str
    name: str
    current_id: str | None  # None: created by the restore
    settings: dict


def plan_lists(row: Restorable, archive: Any, current: Any) -> tuple[CategoryPlan, list[ListTarget]]:
    plan = CategoryPlan(row.file, row.label, row.endpoint)
    mine, now = _named_lists(archive), _named_lists(current)
    plan.archive, plan.current = len(mine), len(now)
    targets = []
    for name, entry in mine.items():
        settings = {key: entry[key] for key in LIST_SETTINGS if entry.get(key) is not None}
        present = now.get(name)
        targets.append(ListTarget(_list_id(entry), name, _list_id(present) if present else None, settings))
        if present is None:
            plan.missing.append(Write("lists", settings, name[:TITLE_LENGTH]))
    return plan, targets
