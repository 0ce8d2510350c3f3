"""What a restore can write back: one row per archive file, beside the backup's catalog.

``file`` is the archive file (as in ``catalog.py``); ``endpoint`` the write that adds what is missing; ``way`` how
its items are matched and written (see ``services/restore_plan.py``): matching is by media (trakt id first, then
the other ids), never by history row ids, ranks or ``listed_at``, which trakt assigns anew. Every other file of
an archive is listed in a plan as not restorable, with the reason in ``NOT_RESTORABLE`` (or a general one).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from backups.catalog import SAVED_FILTER_SECTIONS


class Way(Enum):
    PLAYS = "plays"  # a multiset of (media, watched_at): a play missing twice is posted twice
    RATED = "rated"  # one value per media: missing or different (the archive's value and rated_at win)
    LISTED = "listed"  # present or not (watchlist, favorites, a list's items, hidden items)
    COLLECTED = "collected"  # movies, or each episode of a show, with collected_at and the media metadata
    LISTS = "lists"  # personal lists, matched by name: a missing one is created with its settings
    NOTES = "notes"  # a note per media and text: a missing one is posted, one a request


@dataclass(frozen=True)
class Restorable:
    file: str
    label: str
    endpoint: str
    way: Way
    idempotent: bool = True  # posting it twice changes nothing; history adds are not (a second play)
    single: bool = False  # one item a request, the item being the body (a note)

    @property
    def per_list(self) -> bool:
        return "{list_id}" in self.file


RESTORABLE: tuple[Restorable, ...] = (
    Restorable("sync/history", "Watch history", "/sync/history", Way.PLAYS, idempotent=False),
    *(Restorable(f"sync/ratings/{kind}", f"Ratings — {kind}", "/sync/ratings", Way.RATED)
      for kind in ("movies", "shows", "seasons", "episodes")),
    Restorable("sync/watchlist", "Watchlist", "/sync/watchlist", Way.LISTED),
    Restorable("sync/favorites", "Favorites", "/sync/favorites", Way.LISTED),
    Restorable("sync/collection/movies", "Collection — movies", "/sync/collection", Way.COLLECTED),
    Restorable("sync/collection/shows", "Collection — shows", "/sync/collection", Way.COLLECTED),
    *(Restorable(f"users/hidden/{section}", f"Hidden — {section.replace('_', ' ')}", f"/users/hidden/{section}",
                 Way.LISTED)
      for section in ("calendar", "progress_watched", "progress_collected", "recommendations", "comments",
                      "dropped")),
    Restorable("users/lists", "Lists", "/users/me/lists", Way.LISTS),
    Restorable("users/lists/{list_id}/items", "Items of the lists", "/users/me/lists/{list_id}/items", Way.LISTED),
    Restorable("users/notes", "Notes", "/notes", Way.NOTES, idempotent=False, single=True),
)

# What trakt's API cannot write back, and why (shown in every plan; never silently dropped).
NOT_RESTORABLE = {
    "users/comments": "trakt's API cannot post a comment with its original date and replies",
    "users/likes/comments": "likes cannot be written through trakt's API",
    "users/likes/lists": "likes cannot be written through trakt's API",
    "users/followers": "other people follow you: nothing this app can write",
    "users/following": "follows are sent as new requests to other people, not restored",
    "users/friends": "friends follow both ways: other people's part",
    "users/requests": "follow requests are other people's",
    "users/blocked": "blocks are not written back",
    "sync/playback": "paused playback is only written by a player (scrobbling)",
    "users/settings": "settings are changed on trakt's site, not through the API",
    "users/profile": "the profile is changed on trakt's site, not through the API",
    "users/stats": "computed by trakt from the rest",
    "sync/watched/movies": "computed by trakt from the watch history (restored above)",
    "sync/watched/shows": "computed by trakt from the watch history (restored above)",
    "sync/last_activities": "trakt's own timestamps",
    "users/lists/collaborations": "other people's lists",
    "users/lists/collaborations/{list_id}/items": "other people's lists",
    "users/hidden/progress_watched_reset": "trakt's API has no way to write a reset back",
    **{f"users/saved_filters/{section}": "saved filters are made on trakt's site, not through the API"
       for section in SAVED_FILTER_SECTIONS},
}
NOT_RESTORABLE_OTHERWISE = "not something trakt's API can write back"

BY_FILE = {row.file: row for row in RESTORABLE}


def the_lists() -> Restorable:
    return BY_FILE["users/lists"]


def list_items() -> Restorable:
    return BY_FILE["users/lists/{list_id}/items"]
