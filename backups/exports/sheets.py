"""The CSV export: one CSV per kind of data, one row per item of the archive's files, as one table.

Each ``Sheet`` names the catalog files it holds (``catalog.py``), and its own columns beside the media columns
every item about a movie, show, season or episode has (type, title, year, show, season, episode, every id). A
column reads a dotted path in the item; ``a|b`` takes the first that is there. A sheet of several files starts
with the archive file of each row (``users/hidden/calendar``); a sheet of lists' items says which list.
The same table gives the browse pages their sections and the comparison of two backups what an item is and
which of its fields count as a change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from backups.archive import UnpackedArchive
from backups.catalog import HIDDEN_SECTIONS, SAVED_FILTER_SECTIONS, category_of
from backups.exports.zipout import ZipOut

MEDIA_KEYS = ("episode", "season", "movie", "show", "person", "list", "user")  # the item's own first: an
# episode's item also has its show
ID_KEYS = ("trakt", "slug", "imdb", "tmdb", "tvdb")
MEDIA_HEADER = ["type", "title", "year", "show", "show_year", "season", "episode", *ID_KEYS,
                *(f"show_{key}" for key in ID_KEYS)]
OWN_LISTS, SHARED_LISTS = "users/lists", "users/lists/collaborations"


@functools.cache
def _choices(path: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(choice.split(".")) for choice in path.split("|"))


def dig(item: Any, path: str) -> Any:
    """The value at a dotted path ("comment.user.username"); ``a|b``: the first path that holds a value."""
    for keys in _choices(path):
        value = item
        for key in keys:
            value = value.get(key) if type(value) is dict else None
        if value is not None:
            return value
    return None


def episode_count(item: Any) -> int | None:
    """How many episodes a watched or collected show holds (its seasons' episodes)."""
    seasons = item.get("seasons") if isinstance(item, dict) else None
    if not isinstance(seasons, list):
        return None
    return sum(len(s.get("episodes") or []) for s in seasons if isinstance(s, dict))


Getter = str | Callable[[Any], Any]


@dataclass(frozen=True)
class Sheet:
    name: str
    files: tuple[str, ...]  # catalog files (``{list_id}`` ones hold every list's file)
    columns: tuple[tuple[str, Getter], ...]
    media: str | None = ""  # where the media is: "" the item itself, "item" its "item"; None: no media columns
    date: str = ""  # the item's own date (browsing sorts by it, newest first)
    label: str = ""  # for people (the browse pages' sections)
    # Comparing two backups (services/compare.py): ``key`` is what one item is (a path to its own id; without
    # one, the media it is about), ``compared`` the names of the columns whose change makes it "changed".
    # ``pair_by`` (history): plays are a multiset of (item, date), and a play gone from one side and come on
    # the other with the same id at this path is one play whose time changed.
    key: str = ""
    compared: tuple[str, ...] = ()
    pair_by: str = ""

    @functools.cached_property  # asked for every item a sheet holds (a frozen dataclass keeps it in __dict__)
    def per_list(self) -> bool:
        return any("{list_id}" in file for file in self.files)

    def holds(self, file: str) -> bool:
        category = category_of(file)
        return category is not None and category.file in self.files

    def header(self) -> list[str]:
        lead = ["file"] if len(self.files) > 1 else []
        lead += ["list_id", "list"] if self.per_list else []
        return lead + (MEDIA_HEADER if self.media is not None else []) + [name for name, _ in self.columns]

    def media_of(self, item: Any) -> Any:
        """What the item is about (a movie, an episode with its show, …): the item itself, or its ``media`` key."""
        return dig(item, self.media) if self.media else item

    def compared_values(self, item: Any) -> dict[str, Any]:
        """The values of the ``compared`` columns: an item whose values differ between two backups changed."""
        getters = dict(self.columns)
        return {name: _get(getters[name], item) for name in self.compared}

    def cells(self, item: Any, file: str, list_names: dict[str, str]) -> list:
        lead: list = [file] if len(self.files) > 1 else []
        if self.per_list:
            list_id = file.split("/")[-2]
            lead += [list_id, list_names.get(list_id, "")]
        media = media_cells(self.media_of(item)) if self.media is not None else []
        return lead + media + [_get(getter, item) for _, getter in self.columns]


def _get(getter: Getter, item: Any) -> Any:
    return getter(item) if callable(getter) else dig(item, getter)


def media_cells(item: Any) -> list:
    """type, title, year, show, show_year, season, episode, the item's ids, its show's ids."""
    item = item if type(item) is dict else {}
    kind = item.get("type")
    if kind not in MEDIA_KEYS:
        kind = next((key for key in MEDIA_KEYS if key in item), None)
    media = item.get(kind) if kind else None
    media = media if type(media) is dict else {}
    show = item.get("show") if kind in ("episode", "season") else None
    show = show if type(show) is dict else {}
    ids, show_ids = media.get("ids") or {}, show.get("ids") or {}
    season = media.get("season") if kind == "episode" else media.get("number") if kind == "season" else None
    title = media.get("title")
    return [kind, dig(media, "name|username") if title is None else title, media.get("year"), show.get("title"),
            show.get("year"), season, media.get("number") if kind == "episode" else None,
            *_ids(ids), *_ids(show_ids)]


def _ids(ids: Any) -> tuple:
    """The ids of ID_KEYS (None for each one missing)."""
    return tuple(map(ids.get, ID_KEYS)) if type(ids) is dict else (None,) * len(ID_KEYS)


LISTED = (("rank", "rank"), ("listed_at", "listed_at"), ("notes", "notes"), ("id", "id"))

SHEETS: tuple[Sheet, ...] = (
    Sheet("history", ("sync/history",), (("watched_at", "watched_at"), ("action", "action"), ("id", "id")),
          date="watched_at", label="History", pair_by="id"),
    Sheet("ratings", tuple(f"sync/ratings/{kind}" for kind in ("movies", "shows", "seasons", "episodes")),
          (("rating", "rating"), ("rated_at", "rated_at")), date="rated_at", label="Ratings",
          compared=("rating",)),
    Sheet("watchlist", ("sync/watchlist",), LISTED, date="listed_at", label="Watchlist", compared=("notes",)),
    Sheet("favorites", ("sync/favorites",), LISTED, date="listed_at", label="Favorites", compared=("notes",)),
    Sheet("collection", ("sync/collection/movies", "sync/collection/shows"),
          (("collected_at", "collected_at|last_collected_at"), ("updated_at", "updated_at|last_updated_at"),
           ("episodes", episode_count), ("metadata", "metadata")),
          date="collected_at|last_collected_at", label="Collection", compared=("episodes", "metadata")),
    Sheet("watched", ("sync/watched/movies", "sync/watched/shows"),
          (("plays", "plays"), ("last_watched_at", "last_watched_at"), ("last_updated_at", "last_updated_at"),
           ("reset_at", "reset_at"), ("episodes", episode_count)), date="last_watched_at", label="Watched",
          compared=("plays", "episodes", "reset_at")),
    Sheet("playback", ("sync/playback",), (("progress", "progress"), ("paused_at", "paused_at"), ("id", "id")),
          date="paused_at", label="Playback", compared=("progress",)),
    Sheet("lists", (OWN_LISTS, SHARED_LISTS),
          (("list_id", "ids.trakt"), ("name", "name"), ("slug", "ids.slug"), ("owner", "user.username"),
           ("privacy", "privacy"), ("description", "description"), ("item_count", "item_count"),
           ("created_at", "created_at"), ("updated_at", "updated_at"), ("share_link", "share_link")),
          media=None, date="updated_at", label="Lists", key="ids.trakt",
          compared=("name", "privacy", "description", "item_count")),
    Sheet("list-items", ("users/lists/{list_id}/items", "users/lists/collaborations/{list_id}/items"), LISTED,
          date="listed_at", label="List items", compared=("notes",)),
    Sheet("hidden", tuple(f"users/hidden/{section}" for section in (*HIDDEN_SECTIONS, "progress_watched_reset")),
          (("hidden_at", "hidden_at"),), date="hidden_at", label="Hidden"),
    Sheet("comments", ("users/comments",),
          (("comment_id", "comment.id"), ("parent_id", "comment.parent_id"), ("created_at", "comment.created_at"),
           ("updated_at", "comment.updated_at"), ("comment", "comment.comment"), ("spoiler", "comment.spoiler"),
           ("review", "comment.review")), date="comment.created_at", label="Comments", key="comment.id",
          compared=("comment", "spoiler")),
    Sheet("likes", ("users/likes/comments", "users/likes/lists"),
          (("liked_at", "liked_at"), ("comment_id", "comment.id"), ("comment", "comment.comment"),
           ("comment_by", "comment.user.username"), ("list_id", "list.ids.trakt"), ("list", "list.name"),
           ("list_owner", "list.user.username")), media=None, date="liked_at", label="Likes",
          key="comment.id|list.ids.trakt"),
    Sheet("notes", ("users/notes",),
          (("note_id", "id"), ("notes", "notes"), ("privacy", "privacy"), ("spoiler", "spoiler"),
           ("created_at", "created_at"), ("updated_at", "updated_at")), media="item",
          date="created_at", label="Notes", key="id", compared=("notes", "privacy", "spoiler")),
    Sheet("network", tuple(f"users/{who}" for who in ("followers", "following", "friends", "requests", "blocked")),
          (("username", "user.username"), ("name", "user.name"), ("slug", "user.ids.slug"),
           ("since", "followed_at|friends_at|requested_at|blocked_at"), ("private", "user.private")),
          media=None, date="followed_at|friends_at|requested_at|blocked_at", label="Network",
          key="user.ids.slug|user.username"),
    Sheet("saved-filters", tuple(f"users/saved_filters/{section}" for section in SAVED_FILTER_SECTIONS),
          (("section", "section"), ("name", "name"), ("path", "path"), ("query", "query"), ("rank", "rank"),
           ("id", "id"), ("updated_at", "updated_at")), media=None, date="updated_at", label="Saved filters",
          key="id", compared=("name", "query")),
)


def list_names(source: UnpackedArchive) -> dict[str, str]:
    """List id → name, from both list indexes."""
    names: dict[str, str] = {}
    for index in (OWN_LISTS, SHARED_LISTS):
        for entry in source.items(f"{index}.json"):
            list_id, name = dig(entry, "ids.trakt"), entry.get("name") if isinstance(entry, dict) else None
            if list_id is not None and isinstance(name, str):
                names[str(list_id)] = name
    return names


def write_csv(source: UnpackedArchive, out: ZipOut) -> Generator[None, None, list[str]]:
    """Every sheet that has files in the archive, one row per item; yields after each row."""
    names = list_names(source)
    members = sorted(source.files)
    for sheet in SHEETS:
        files = [m.removesuffix(".json") for m in members if m.endswith(".json") and sheet.holds(m[:-5])]
        if not files:
            continue
        with out.csv(f"{sheet.name}.csv", sheet.header()) as rows:
            for file in files:
                for item in source.items(f"{file}.json"):
                    rows.row(sheet.cells(item, file, names))
                    yield
    return [f"{len(out.rows)} CSV files, {sum(out.rows.values()):,} rows."]
