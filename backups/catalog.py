"""What a backup downloads: one row per file of the archive.

Adding a category is one line. ``file`` is the archive path (without ``.json``)
and mirrors the API path with ``me`` left out; ``{list_id}`` rows are repeated
for every list in ``users/lists``. ``activities`` names the keys of
``/sync/last_activities`` that move when the category changes (incremental
backups compare them); an empty tuple means "always fetch". ``role`` tells the
planner what a category is for beyond being stored (see ``Role``).

Two list indexes: your own lists (``users/lists``) and the lists other people share
with you (``users/lists/collaborations``); each has its per-list items category, which
names it in ``items_of``. A shared list's items live under its owner
(``/users/{owner}/lists/{list_id}/items``); the owner's slug goes into the request
path only when it looks like a slug, quoted, and never into an archive path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import quote


class Role(Enum):
    """What the backup planner needs to know about a category besides storing it."""

    DATA = "data"  # stored, nothing more
    ACTIVITIES = "activities"  # read first: its timestamps say which categories moved
    HISTORY = "history"  # newest first: an incremental backup fetches only its new top
    WATCHED = "watched"  # sorted by last watch: merged with the previous archive when only new plays moved it
    LIST_INDEX = "list_index"  # lists whose items are fetched next, by the LIST_ITEMS category naming it
    LIST_ITEMS = "list_items"  # one file per list of its index (``{list_id}`` in its file and endpoint)


@dataclass(frozen=True)
class Category:
    file: str
    label: str  # for people: the dashboard's counts, messages
    endpoint: str
    params: dict = field(default_factory=dict)
    paginated: bool = False
    optional: bool = False
    unique_key: str | None = None  # items carrying a unique id (deduplicated if pages shift mid-backup)
    shape: type = list  # what a whole (non-paginated) answer must be: dict or list
    activities: tuple[str, ...] = ()
    role: Role = Role.DATA
    media: str | None = None  # WATCHED: the key of each entry's movie or show ("movie", "show")
    label_each: str = ""  # LIST_ITEMS: the label of one list's file, with its ``{name}``
    items_of: str = ""  # LIST_ITEMS: the file of the list index whose lists it holds the items of

    @property
    def per_list(self) -> bool:
        return self.role is Role.LIST_ITEMS

    @property
    def needs_owner(self) -> bool:
        return "{owner}" in self.endpoint

    def expand(self, list_id: str | None = None, owner: str = "") -> tuple[str, str]:
        """(archive file, endpoint) with the list id (and its owner's slug, quoted) filled in."""
        if not self.per_list:
            return self.file, self.endpoint
        return self.file.format(list_id=list_id), self.endpoint.format(list_id=list_id, owner=quote(owner, safe=""))

    def list_id_in(self, file: str) -> str | None:
        """The list id of ``file`` when it is one of this per-list category's files ("users/lists/12/items")."""
        if not self.per_list:
            return None
        prefix, suffix = self.file.split("{list_id}")
        list_id = file.removeprefix(prefix).removesuffix(suffix)
        return list_id if file.startswith(prefix) and file.endswith(suffix) and list_id.isdigit() else None


P = True  # paginated


def _words(section: str) -> str:
    return section.replace("_", " ")

SAVED_FILTER_SECTIONS = ("movies", "shows", "calendars", "search")
HIDDEN_SECTIONS = ("calendar", "progress_watched", "progress_collected", "recommendations", "comments", "dropped")

CATEGORIES: tuple[Category, ...] = (
    Category("users/settings", "Settings", "/users/settings", {"extended": "sharing,browsing"}, shape=dict,
             activities=("account.settings_at",)),
    Category("users/profile", "Profile",
             "/users/me", {"extended": "full"}, shape=dict, activities=("account.settings_at",)),
    Category("users/stats", "Statistics", "/users/me/stats", shape=dict, activities=("all",)),
    Category("sync/last_activities", "Last activities", "/sync/last_activities", shape=dict, role=Role.ACTIVITIES),
    Category("sync/history", "Watch history", "/sync/history", paginated=P, unique_key="id",
             activities=("movies.watched_at", "episodes.watched_at"), role=Role.HISTORY),
    Category("sync/watched/movies", "Watched movies",
             "/sync/watched/movies", paginated=P, activities=("movies.watched_at",),
             role=Role.WATCHED, media="movie"),
    Category("sync/watched/shows", "Watched shows, with progress",
             "/sync/watched/shows", {"extended": "progress", "specials": "true"}, paginated=P,
             activities=("episodes.watched_at", "shows.hidden_at"), role=Role.WATCHED, media="show"),
    Category("sync/collection/movies", "Collection — movies",
             "/sync/collection/movies", {"extended": "metadata"}, paginated=P,
             activities=("movies.collected_at",)),
    Category("sync/collection/shows", "Collection — shows",
             "/sync/collection/shows", {"extended": "metadata"}, paginated=P,
             activities=("episodes.collected_at",)),
    Category("sync/ratings/movies", "Ratings — movies",
             "/sync/ratings/movies", paginated=P, activities=("movies.rated_at",)),
    Category("sync/ratings/shows", "Ratings — shows",
             "/sync/ratings/shows", paginated=P, activities=("shows.rated_at",)),
    Category("sync/ratings/seasons", "Ratings — seasons",
             "/sync/ratings/seasons", paginated=P, activities=("seasons.rated_at",)),
    Category("sync/ratings/episodes", "Ratings — episodes",
             "/sync/ratings/episodes", paginated=P, activities=("episodes.rated_at",)),
    Category("sync/watchlist", "Watchlist", "/sync/watchlist", paginated=P, activities=("watchlist.updated_at",)),
    Category("sync/favorites", "Favorites", "/sync/favorites", paginated=P, activities=("favorites.updated_at",)),
    Category("sync/playback", "Playback progress",
             "/sync/playback", activities=("movies.paused_at", "episodes.paused_at")),
    *(
        Category(f"users/hidden/{section}", f"Hidden — {_words(section)}", f"/users/hidden/{section}", paginated=P,
                 activities=("movies.hidden_at", "shows.hidden_at", "seasons.hidden_at", "shows.dropped_at"))
        for section in HIDDEN_SECTIONS
    ),
    # Read by trakt's own export; not in trakt's API contract, so optional; no activity moves with it.
    Category("users/hidden/progress_watched_reset", "Hidden — progress watched reset",
             "/users/hidden/progress_watched_reset", paginated=P, optional=True),
    Category("users/lists", "Lists", "/users/me/lists", activities=("lists.updated_at",), role=Role.LIST_INDEX),
    Category("users/lists/{list_id}/items", "Items of the lists", "/users/me/lists/{list_id}/items", paginated=P,
             activities=("lists.updated_at",), role=Role.LIST_ITEMS, label_each="Items of list ‘{name}’",
             items_of="users/lists"),
    Category("users/lists/collaborations", "Lists shared with you",
             "/users/me/lists/collaborations", activities=("collaborations.updated_at",), role=Role.LIST_INDEX),
    # Their owners change them without moving this account's activities: read at every backup.
    Category("users/lists/collaborations/{list_id}/items", "Items of the lists shared with you",
             "/users/{owner}/lists/{list_id}/items", paginated=P, role=Role.LIST_ITEMS,
             label_each="Items of shared list ‘{name}’", items_of="users/lists/collaborations"),
    Category("users/comments", "Comments and replies",
             "/users/me/comments/all/all", {"include_replies": "true"}, paginated=P,
             activities=("movies.commented_at", "shows.commented_at", "seasons.commented_at",
                         "episodes.commented_at", "lists.commented_at")),
    Category("users/likes/comments", "Liked comments",
             "/users/me/likes/comments", paginated=P, activities=("comments.liked_at",)),
    Category("users/likes/lists", "Liked lists", "/users/me/likes/lists", paginated=P, activities=("lists.liked_at",)),
    Category("users/notes", "Notes", "/users/me/notes/all", paginated=P, activities=("notes.updated_at",)),
    Category("users/followers", "Followers", "/users/me/followers", activities=("account.followed_at",)),
    Category("users/following", "Following", "/users/me/following", activities=("account.following_at",)),
    Category("users/friends", "Friends",
             "/users/me/friends", activities=("account.followed_at", "account.following_at")),
    Category("users/requests", "Follow requests",
             "/users/requests", activities=("account.pending_at", "account.requested_at")),
    # trakt has no timestamp for blocks; blocking unfollows both ways, which moves these. A block of someone
    # with no follow either way waits for the next full backup (FULL_BACKUP_DAYS).
    Category("users/blocked", "Blocked users",
             "/users/blocked", activities=("account.settings_at", "account.followed_at",
                                                            "account.following_at", "account.pending_at")),
    *(
        Category(f"users/saved_filters/{section}", f"Saved filters — {section}",
                 f"/users/saved_filters/{section}", paginated=P, optional=True,
                 activities=("saved_filters.updated_at",))
        for section in SAVED_FILTER_SECTIONS
    ),
)


def by_role(role: Role) -> tuple[Category, ...]:
    return tuple(category for category in CATEGORIES if category.role is role)


def the(role: Role) -> Category:
    """The one category with this role (activities, history)."""
    (category,) = by_role(role)
    return category


def items_of(index: Category) -> Category:
    """The per-list items category of a list index."""
    (category,) = (c for c in by_role(Role.LIST_ITEMS) if c.items_of == index.file)
    return category


BY_FILE = {category.file: category for category in CATEGORIES}
OWN_LIST_ITEMS = next(c for c in by_role(Role.LIST_ITEMS) if c.items_of == "users/lists")
SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def category_of(file: str) -> Category | None:
    """The category an archive file (without ``.json``) belongs to: its own, or its per-list category's."""
    return next((c for c in CATEGORIES if c.file == file or c.list_id_in(file) is not None), None)


def label_of(file: str, list_name: str | None = None) -> str:
    """A file's name for people: its category's label ("Watch history"), one list's ("Items of list
    ‘Favourites’") or, for a file the catalog no longer knows (an older archive's), its path in words."""
    category = category_of(file)
    if category is None:
        return " / ".join(part.replace("_", " ") for part in file.split("/"))
    if category.file != file:
        return category.label_each.format(name=list_name or f"#{category.list_id_in(file)}")
    return category.label
