"""The emulator's seeded data, pinned byte for byte.

Every read route the emulator serves for a user, every page of it, is rendered through the same
code the HTTP server calls (``State.serve_get``: routing, paging, JSON encoding), and the status,
headers and body go into one sha256 (the body as Python's json writes its value, so the digest pins the data
and not the encoder's whitespace).  Rendering in-process keeps this fast; a change to any
byte of generated or rendered data changes the digest.  If you change the generator on purpose,
recompute the digests and say so in the commit.
"""

import hashlib
import json

import pytest

from trakt_emulator import Emulator

pytestmark = pytest.mark.backend_neutral

KINDS = ("movies", "shows", "seasons", "episodes")
HIDDEN = ("calendar", "progress_watched", "progress_collected", "recommendations", "comments", "dropped")
SAVED_FILTERS = ("movies", "shows", "calendars", "search")

# (path, query) of every read route a user has.  Routes that name an item (a list, a watched item)
# are added from what the user owns.
ROUTES = [
    ("/sync/last_activities", {}),
    ("/sync/history", {}),
    ("/sync/history", {"start_at": "2024-01-01T00:00:00Z", "end_at": "2025-06-30T12:00:00.000Z"}),
    ("/sync/watched/movies", {}),
    ("/sync/watched/shows", {}),
    ("/sync/watched/shows", {"extended": "progress"}),
    ("/sync/watched/shows", {"extended": "progress", "specials": "true"}),
    ("/sync/collection/movies", {}),
    ("/sync/collection/movies", {"extended": "metadata"}),
    ("/sync/collection/shows", {}),
    ("/sync/collection/shows", {"extended": "metadata"}),
    ("/sync/ratings", {}),
    *[("/sync/ratings/" + kind, {}) for kind in KINDS],
    ("/sync/ratings/all/8,9,10", {}),
    ("/sync/watchlist", {}),
    *[("/sync/watchlist/" + kind, {}) for kind in KINDS],
    ("/sync/watchlist/movies,shows/added/desc", {}),
    ("/sync/watchlist/all/title/asc", {}),
    ("/sync/favorites", {}),
    ("/sync/favorites/movies", {}),
    ("/sync/favorites/shows/title/desc", {}),
    ("/sync/playback", {}),
    ("/sync/playback", {"page": "1"}),
    ("/sync/playback/movies", {}),
    ("/sync/playback/episodes", {"limit": "1"}),
    ("/users/settings", {}),
    ("/users/settings", {"extended": "sharing,browsing"}),
    *[("/users/hidden/" + section, {}) for section in HIDDEN],
    ("/users/hidden/progress_watched_reset", {}),
    ("/users/hidden/recommendations", {"type": "movie"}),
    ("/users/requests", {}),
    ("/users/requests/following", {}),
    ("/users/blocked", {}),
    *[("/users/saved_filters/" + section, {}) for section in SAVED_FILTERS],
    ("/users/likes", {}),
    ("/users/likes/comments", {}),
    ("/users/likes/lists", {}),
    ("/users/me", {}),
    ("/users/me", {"extended": "full"}),
    ("/users/me/stats", {}),
    ("/users/me/watched/movies", {}),
    ("/users/me/collection/shows", {}),
    ("/users/me/ratings/episodes", {}),
    ("/users/me/watchlist/seasons", {}),
    ("/users/me/favorites", {}),
    ("/users/me/lists", {}),
    ("/users/me/lists/collaborations", {}),
    ("/users/me/comments", {}),
    ("/users/me/comments/all/all", {"include_replies": "true"}),
    ("/users/me/comments/all/all", {"include_replies": "only"}),
    ("/users/me/comments/reviews/movies", {}),
    ("/users/me/comments/shouts/lists", {"include_replies": "true"}),
    *[("/users/me/comments/all/" + kind, {"include_replies": "true"}) for kind in KINDS],
    ("/users/me/likes", {}),
    ("/users/me/likes/comments", {}),
    ("/users/me/notes", {}),
    ("/users/me/notes/all", {}),
    *[("/users/me/notes/" + kind, {}) for kind in KINDS],
    ("/users/me/followers", {}),
    ("/users/me/following", {}),
    ("/users/me/friends", {}),
    ("/users/me/watching", {}),
    # answers that are errors are pinned too (their kind and message)
    ("/sync/unknown", {}),
    ("/sync/history/people", {}),
    ("/users/me/lists/999999999", {}),
    ("/users/nobody/lists/1/items", {}),
    ("/sync/history", {"start_at": "yesterday"}),
]


# The per-type history routes filter the whole history for every page they serve: paging them
# through a heavy account takes half a minute, so only the tiny one walks them whole (and its
# user_data(), the whole account at once that tests compare archives with, joins the digest too).
WHOLE_HISTORY_BY_TYPE = [
    *[("/sync/history/" + kind, {}) for kind in KINDS],
    ("/users/me/history/movies", {"end_at": "2025-01-01T00:00:00Z"}),
]


def served(state, username, path):
    return json.loads(state.serve_get(username, path, {})[3])


def history_item_routes(state, username):
    """History filtered to one movie, show, season and episode the user has watched."""
    routes = []
    for play in served(state, username, "/sync/history"):
        if play["type"] == "movie":
            routes.append(("/sync/history/movies/%d" % play["movie"]["ids"]["trakt"], {}))
        else:
            routes += [("/sync/history/shows/%d" % play["show"]["ids"]["trakt"], {}),
                       ("/sync/history/episodes/%d" % play["episode"]["ids"]["trakt"], {})]
    season_ids = [rating["season"]["ids"]["trakt"] for rating in served(state, username, "/sync/ratings/seasons")]
    routes += [("/sync/history/seasons/%d" % trakt, {}) for trakt in season_ids[:3]]
    return routes[:12] + routes[-3:]


def list_routes(state, username):
    """The routes of the lists a user owns or collaborates on, found from what the emulator serves."""
    routes = []
    for number, path in enumerate(("/users/me/lists", "/users/me/lists/collaborations")):
        for listed in served(state, username, path):
            owner = "me" if number == 0 else listed["user"]["ids"]["slug"]
            for key in (listed["ids"]["trakt"], listed["ids"]["slug"]):
                base = "/users/%s/lists/%s" % (owner, key)
                routes += [(base, {}), (base + "/items", {})]
            routes.append(("/users/%s/lists/%s/items/movies,shows/title/desc" % (owner, listed["ids"]["trakt"]), {}))
    return routes


def feed(digest, state, username, path, query):
    """Every page of one route, as the server would send it, into the digest."""
    page = 1
    while True:
        asked = dict(query, page=str(page)) if page > 1 else dict(query)
        try:
            status, headers, _value, body = state.serve_get(username, path, asked)
        except Exception as exc:  # the server turns these into 4xx answers
            status, headers, body = type(exc).__name__, {}, str(exc).encode("utf-8")
        digest.update(json.dumps([path, sorted(asked.items()), status, sorted(headers.items())],
                                 ensure_ascii=False).encode("utf-8"))
        if isinstance(status, int) and body:  # the data, whatever whitespace the server's encoder chooses
            body = json.dumps(json.loads(body), ensure_ascii=False).encode("utf-8")
        digest.update(b"\x00%d\x00" % len(body))
        digest.update(body)
        if page >= int(headers.get("X-Pagination-Page-Count", "1")):
            return
        page += 1


def account_digest(profile, vip, whole_history_by_type):
    emulator = Emulator()
    username = "digest-" + profile
    emulator.add_user(username, profile=profile, vip=vip)
    state = emulator.state
    digest = hashlib.sha256()
    routes = ROUTES + history_item_routes(state, username) + list_routes(state, username)
    if whole_history_by_type:
        routes += WHOLE_HISTORY_BY_TYPE
    for path, query in routes:
        feed(digest, state, username, path, query)
    if whole_history_by_type:
        digest.update(json.dumps(emulator.user_data(username), ensure_ascii=False, sort_keys=True).encode("utf-8"))
    return digest.hexdigest()


@pytest.mark.parametrize("profile, vip, whole_history_by_type, expected", [
    ("tiny", False, True, "3931ad68e48f45bb15d685caf8101ced6d6b3c14865638dbcd9fbbfa0a9330c6"),
    ("heavy", True, False, "740e8d36cbb8904b40fbc7e018d9a041c766845e5f37e9e30dae95cdd691b622"),
])
def test_seeded_data_is_unchanged(profile, vip, whole_history_by_type, expected):
    assert account_digest(profile, vip, whole_history_by_type) == expected
