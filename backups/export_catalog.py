"""Where each file of trakt's own data export goes in this project's archive: one row per kind of file.

trakt's export (`trakt-export-{slug}.zip`, built by trakt's web site from API answers, unchanged) names its files
after what they hold; an archive names them after the API path (``catalog.py``). ``kind`` is the export's file
name without ``.json`` and without its page suffix; ``file`` the archive file it becomes (``{list_id}``: one per
list); ``shape`` what the export's file must hold. Several kinds may make one archive file: their items are joined
in the row order (comments and notes come per type in the export, all together from the API). One kind may make
several files: ``sections`` splits its items by their ``section`` (``{section}`` in ``file``; saved filters come
all together in the export, per section from the API). A kind the table does not know is kept under ``extra/``
in the archive, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from backups.catalog import SAVED_FILTER_SECTIONS


@dataclass(frozen=True)
class ExportKind:
    kind: str
    file: str
    shape: type = list
    sections: tuple[str, ...] = ()  # the values of each item's "section" that name its file


LIST_ITEMS_KIND = "lists-list"  # lists-list-{traktId}-{slug}[-{page}]: one list's items

EXPORT_KINDS: tuple[ExportKind, ...] = (
    ExportKind("user-settings", "users/settings", dict),
    ExportKind("user-profile", "users/profile", dict),
    ExportKind("user-stats", "users/stats", dict),
    ExportKind("user-last-activities", "sync/last_activities", dict),
    ExportKind("watched-history", "sync/history"),
    ExportKind("watched-movies", "sync/watched/movies"),
    ExportKind("watched-shows", "sync/watched/shows"),
    ExportKind("watched-playback", "sync/playback"),
    *(ExportKind(f"ratings-{kind}", f"sync/ratings/{kind}") for kind in ("movies", "shows", "seasons", "episodes")),
    ExportKind("collection-movies", "sync/collection/movies"),
    ExportKind("collection-shows", "sync/collection/shows"),
    ExportKind("lists-watchlist", "sync/watchlist"),
    ExportKind("lists-favorites", "sync/favorites"),
    ExportKind("lists-collaborations", "users/lists/collaborations"),
    ExportKind("lists-lists", "users/lists"),
    ExportKind(LIST_ITEMS_KIND, "users/lists/{list_id}/items"),
    *(ExportKind(f"hidden-{section.replace('_', '-')}", f"users/hidden/{section}")
      for section in ("calendar", "progress_watched", "progress_watched_reset", "progress_collected",
                      "recommendations")),
    *(ExportKind(f"comments-{kind}", "users/comments") for kind in ("movies", "shows", "seasons", "episodes",
                                                                    "lists")),
    ExportKind("likes-comments", "users/likes/comments"),
    ExportKind("likes-lists", "users/likes/lists"),
    *(ExportKind(f"notes-{kind}", "users/notes") for kind in ("movies", "shows", "seasons", "episodes", "people",
                                                              "activities", "collection_items", "ratings")),
    ExportKind("network-followers-requests", "users/requests"),
    ExportKind("network-followers", "users/followers"),
    ExportKind("network-following", "users/following"),
    ExportKind("network-friends", "users/friends"),
    ExportKind("user-saved-filters", "users/saved_filters/{section}", sections=SAVED_FILTER_SECTIONS),  # VIP only
)

BY_KIND = {row.kind: row for row in EXPORT_KINDS}
# The longest kinds first, so that "network-followers-requests" is never read as "network-followers", page
# "requests".
KINDS_LONGEST_FIRST = sorted(BY_KIND, key=len, reverse=True)

# The kinds of trakt's export this table does not map, each with where an API backup holds that data (or that it
# does not, yet): the import keeps them under extra/. tests/test_import.py checks that every kind trakt's exporter
# writes is either mapped above or listed here.
KEPT_AS_EXTRA = {
    "collection-episodes": "the API backup holds each collected episode in sync/collection/shows",
}
