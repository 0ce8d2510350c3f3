"""Read routing: a GET path (and its query) for one user -> the answer to serve.

``resolve_get`` returns an ``Obj`` (one value) or a ``Paged`` (records rendered page by page by
``page_of``); the server encodes whichever it gets.  ``full_data`` is every answer at once.
"""

import bisect
from urllib.parse import unquote

from .errors import BadRequest, NotFound, VipOnly
from .shared import (ALL_KINDS, EPISODE, HIDDEN_SECTIONS, MOVIE, RESET_SECTION, SAVED_FILTER_SECTIONS, SEASON, SHOW,
                     as_int, parse_iso)


class Obj:
    """A non-paginated answer."""
    __slots__ = ("value", "status", "headers")

    def __init__(self, value, status=200, headers=None):
        self.value = value
        self.status = status
        self.headers = headers or {}


class Paged:
    """A paginated answer: records seq[lo:hi], rendered item by item."""
    __slots__ = ("seq", "lo", "hi", "render", "default_limit", "max_limit", "optional", "headers")

    def __init__(self, records, render, default_limit=100, max_limit=None, lo=0, hi=None, optional=False,
                 headers=None):
        self.seq = records
        self.lo = lo
        self.hi = len(records) if hi is None else hi
        self.render = render
        self.default_limit = default_limit
        self.max_limit = max_limit  # None: the installation's cap (page_of's `cap`); a lower one of its own
        self.optional = optional
        self.headers = headers or {}

    def all(self):
        return [self.render(record) for record in self.seq[self.lo:self.hi]]


MAX_LIMIT = 250  # trakt clamps larger limits to this, without an error


def page_of(paged, query, cap=MAX_LIMIT):
    """Apply ?page/&limit to a Paged -> (items, headers); `limit` is clamped to `cap` (and the Paged's own)."""
    if paged.optional and "page" not in query and "limit" not in query:
        return paged.all(), dict(paged.headers)
    page = max(1, as_int(query.get("page"), 1))
    limit = as_int(query.get("limit"), paged.default_limit)
    if limit < 1:
        limit = paged.default_limit
    limit = min(limit, cap, paged.max_limit or cap)
    total = paged.hi - paged.lo
    pages = (total + limit - 1) // limit
    start = paged.lo + (page - 1) * limit
    stop = min(paged.hi, start + limit)
    items = [paged.render(record) for record in paged.seq[start:stop]] if start < paged.hi else []
    headers = dict(paged.headers)
    headers.update({"X-Pagination-Page": str(page), "X-Pagination-Limit": str(limit),
                    "X-Pagination-Page-Count": str(pages), "X-Pagination-Item-Count": str(total)})
    return items, headers


def _ext(query):
    return {item.strip() for item in query.get("extended", "").split(",") if item.strip()}


def _time_filter(query):
    out = []
    for key in ("start_at", "end_at"):
        value = query.get(key)
        if value:
            try:
                out.append(parse_iso(value))
            except ValueError:
                raise BadRequest("%s is not a valid ISO 8601 date" % key)
        else:
            out.append(None)
    return out


TYPE_KINDS = {"movie": MOVIE, "movies": MOVIE, "show": SHOW, "shows": SHOW, "season": SEASON,
              "seasons": SEASON, "episode": EPISODE, "episodes": EPISODE}


def _kinds(type_segment, allowed=ALL_KINDS):
    if type_segment in (None, "", "all", "media"):
        return set(allowed)
    kinds = set()
    for part in type_segment.split(","):
        kind = TYPE_KINDS.get(part.strip())
        if kind is None or kind not in allowed:
            raise NotFound("unknown type %r" % part)
        kinds.add(kind)
    return kinds


def _sort_listed(records, sort_by, sort_how, user):
    sort_by = sort_by or "rank"
    sort_how = sort_how or "asc"
    if sort_by == "added":
        out = sorted(records, key=lambda record: record[2])
    elif sort_by == "title":
        def title(record):
            return (user.catalog.movies[record[4]][2] if record[3] == MOVIE else user.catalog.shows[record[4]][2]).lower()
        out = sorted(records, key=title)
    else:
        sort_by = "rank"
        out = sorted(records, key=lambda record: record[0])
    if sort_how == "desc":
        out.reverse()
    else:
        sort_how = "asc"
    return out, {"X-Sort-By": "rank", "X-Sort-How": "asc", "X-Applied-Sort-By": sort_by,
                 "X-Applied-Sort-How": sort_how}


def _history_view(user, rest, query):
    start_at, end_at = _time_filter(query)
    history = user.history
    if not rest:
        lo, hi = 0, len(history)
        if end_at is not None:
            lo = bisect.bisect_left(history, -end_at, key=lambda record: -record[1])
        if start_at is not None:
            hi = bisect.bisect_right(history, -start_at, key=lambda record: -record[1])
        return Paged(history, user.render_history, lo=lo, hi=max(lo, hi))
    type_word = rest[0]
    if type_word not in ("movies", "shows", "seasons", "episodes") or len(rest) > 2:
        raise NotFound("unknown history type")
    kind = MOVIE if type_word == "movies" else EPISODE
    item = None
    if len(rest) == 2:
        item = as_int(rest[1], None)
        if item is None:
            raise NotFound("bad id")
    catalog = user.catalog

    def keep(record):
        if record[3] != kind:
            return False
        if start_at is not None and record[1] < start_at:
            return False
        if end_at is not None and record[1] > end_at:
            return False
        if item is None:
            return True
        if type_word == "movies":
            return catalog.movies[record[4]][0] == item
        if type_word == "shows":
            return catalog.shows[record[4]][0] == item
        if type_word == "seasons":
            return catalog.season_id(record[4], record[5]) == item
        return catalog.episode_id(record[4], record[5], record[6]) == item
    return Paged([record for record in history if keep(record)], user.render_history)


def _watched_view(user, rest, query):
    if len(rest) != 1 or rest[0] not in ("movies", "shows"):
        raise NotFound("unknown watched type")
    watched_movies, watched_shows = user.watched()
    if rest[0] == "movies":
        return Paged(watched_movies, user.render_watched_movie)
    ext = _ext(query)
    progress = "progress" in ext
    specials = query.get("specials") == "true"
    return Paged(watched_shows, lambda record: user.render_watched_show(record, progress, specials),
                 max_limit=100 if progress else None)


def _collection_view(user, rest, query):
    if len(rest) != 1 or rest[0] not in ("movies", "shows"):
        raise NotFound("unknown collection type")
    meta = "metadata" in _ext(query)
    if rest[0] == "movies":
        return Paged(user.collection_movies, lambda record: user.render_coll_movie(record, meta))
    return Paged(user.collection_shows, lambda record: user.render_coll_show(record, meta))


def _ratings_view(user, rest, query):
    if len(rest) > 2:
        raise NotFound("bad ratings path")
    kinds = _kinds(rest[0] if rest else None)
    wanted = None
    if len(rest) == 2 and rest[1]:
        try:
            wanted = {int(item) for item in rest[1].split(",")}
        except ValueError:
            raise NotFound("bad rating filter")
    if kinds == {MOVIE, SHOW, SEASON, EPISODE} and wanted is None:
        records = user.ratings
    else:
        records = [record for record in user.ratings if record[2] in kinds and (wanted is None or record[1] in wanted)]
    return Paged(records, user.render_rating)


def _listed_view(user, records, rest, allowed):
    if len(rest) > 3:
        raise NotFound("bad path")
    kinds = _kinds(rest[0] if rest else None, allowed)
    records = [record for record in records if record[3] in kinds]
    sort_by = rest[1] if len(rest) > 1 else None
    sort_how = rest[2] if len(rest) > 2 else None
    records, headers = _sort_listed(records, sort_by, sort_how, user)
    return Paged(records, user.render_listed, headers=headers)


def _playback_view(user, rest, query):
    if len(rest) > 1:
        raise NotFound("bad playback path")
    kinds = {MOVIE, EPISODE} if not rest else _kinds(rest[0], (MOVIE, EPISODE))
    records = [record for record in user.playback if record[3] in kinds]
    return Paged(records, user.render_playback, optional=True)


def _comments_view(user, rest, query):
    if len(rest) > 2:
        raise NotFound("bad comments path")
    ctype = rest[0] if rest else "all"
    mtype = rest[1] if len(rest) > 1 else "all"
    if ctype not in ("all", "reviews", "shouts"):
        raise NotFound("bad comment type")
    types = {"all": None, "movies": "movie", "shows": "show", "seasons": "season", "episodes": "episode",
             "lists": "list"}
    if mtype not in types:
        raise NotFound("bad media type")
    replies = query.get("include_replies", "false").lower()

    def keep(comment):
        text = comment["comment"]
        if ctype == "reviews" and not text["review"]:
            return False
        if ctype == "shouts" and text["review"]:
            return False
        if types[mtype] and comment["type"] != types[mtype]:
            return False
        if replies == "only":
            return text["parent_id"] != 0
        if replies != "true" and text["parent_id"] != 0:
            return False
        return True
    return Paged([comment for comment in user.comments if keep(comment)], _as_is, default_limit=10)


def _likes_view(user, rest):
    if len(rest) > 1:
        raise NotFound("bad likes path")
    type_word = rest[0] if rest else "all"
    if type_word == "comments":
        records = user.likes_comments
    elif type_word == "lists":
        records = user.likes_lists
    elif type_word == "all":
        records = sorted(user.likes_comments + user.likes_lists, key=lambda like: like["liked_at"], reverse=True)
    else:
        raise NotFound("bad likes type")
    return Paged(records, _as_is)


def _notes_view(user, rest):
    if len(rest) > 1:
        raise NotFound("bad notes path")
    type_word = rest[0] if rest else "all"
    types = {"all": None, "movies": "movie", "shows": "show", "seasons": "season", "episodes": "episode"}
    if type_word not in types:
        raise NotFound("bad notes type")
    records = user.notes if types[type_word] is None else [note for note in user.notes if note["item"]["type"] == types[type_word]]
    return Paged(records, _as_is)


def _list_view(user, listed, rest):
    if not rest:
        return Obj(user.render_list(listed))
    if rest[0] != "items" or len(rest) > 4:
        raise NotFound("bad list path")
    return _listed_view(user, listed["items"], rest[1:], ALL_KINDS)


def _watchlist_view(user, rest, query):
    return _listed_view(user, user.watchlist, rest, ALL_KINDS)


def _favorites_view(user, rest, query):
    return _listed_view(user, user.favorites, rest, (MOVIE, SHOW))


def _as_is(value):
    return value


# The categories served both under /sync/ and under /users/me/.
_CATEGORY_VIEWS = {"history": _history_view, "watched": _watched_view, "collection": _collection_view,
                   "ratings": _ratings_view, "watchlist": _watchlist_view, "favorites": _favorites_view}


def _user_view(user, rest, query):
    if not rest:
        return Obj(user.profile_obj(full="full" in _ext(query)))
    head, tail = rest[0], rest[1:]
    if head == "stats" and not tail:
        return Obj(user.stats_obj())
    if head in _CATEGORY_VIEWS:
        return _CATEGORY_VIEWS[head](user, tail, query)
    if head == "lists":
        if not tail:
            return Obj([user.render_list(listed) for listed in user.lists])
        if tail == ["collaborations"]:
            return Obj([user.render_list(listed) for listed in user.collaborations])
        listed = user.find_list(tail[0])
        if listed is None:
            raise NotFound("list not found")
        return _list_view(user, listed, tail[1:])
    if head == "comments":
        return _comments_view(user, tail, query)
    if head == "likes":
        return _likes_view(user, tail)
    if head == "notes":
        return _notes_view(user, tail)
    if head in ("followers", "following", "friends") and not tail:
        return Obj(getattr(user, head))
    if head == "watching" and not tail:
        return Obj(None, status=204)
    raise NotFound("unknown endpoint")


def resolve_get(user, path: str, query: dict):
    """GET `path` (raw, percent-encoded, no query string) for `user` -> Obj | Paged.

    Raises NotFound, VipOnly or BadRequest.  Callers hold the state lock."""
    parts = [unquote(paged) for paged in path.strip("/").split("/")]
    if not parts or not parts[0]:
        raise NotFound("unknown endpoint")
    if parts[0] == "sync" and len(parts) >= 2:
        return _sync_view(user, parts[1], parts[2:], query)
    if parts[0] == "users" and len(parts) >= 2:
        return _users_view(user, parts[1], parts[2:], query)
    raise NotFound("unknown endpoint")


def _sync_view(user, category: str, rest: list, query: dict):
    if category == "last_activities" and not rest:
        return Obj(user.render_activities())
    if category == "playback":
        return _playback_view(user, rest, query)
    view = _CATEGORY_VIEWS.get(category)
    if view is None:
        raise NotFound("unknown endpoint")
    return view(user, rest, query)


def _users_view(user, segment: str, rest: list, query: dict):
    """/users/<segment>/...: the account's own endpoints, a user's data, or a collaborated list."""
    if segment == "settings" and not rest:
        return Obj(user.settings_obj(query.get("extended", "")))
    if segment == "hidden" and len(rest) == 1:
        return _hidden_view(user, rest[0], query)
    if segment == "requests" and not rest:
        return Obj(user.requests)
    if segment == "requests" and rest == ["following"]:
        return Obj(user.requests_following)
    if segment == "blocked" and not rest:
        return Obj(user.blocked)
    if segment == "saved_filters" and len(rest) == 1:
        if rest[0] not in SAVED_FILTER_SECTIONS:
            raise NotFound("unknown saved filter section")
        if not user.vip:
            raise VipOnly("saved filters are a VIP feature")
        return Paged(user.saved_filters[rest[0]], _as_is)
    if segment == "likes":
        return _likes_view(user, rest)
    if segment.lower() in ("me", user.slug):
        return _user_view(user, rest, query)
    # lists of another user that this user collaborates on
    if len(rest) >= 2 and rest[0] == "lists":
        listed = user.find_list(rest[1], owner_slug=segment.lower())
        if listed is not None:
            return _list_view(user, listed, rest[2:])
    raise NotFound("user not found")


def _hidden_view(user, section: str, query: dict):
    if section == RESET_SECTION:
        items = user.hidden_resets
    elif section in HIDDEN_SECTIONS:
        items = user.hidden[section]
    else:
        raise NotFound("unknown hidden section")
    if query.get("type"):
        items = [item for item in items if item["type"] == query["type"]]
    return Paged(items, _as_is)


# full_data's tables: the endpoints served as they are; those whose plain key holds a richer variant, with the
# query string of that variant's own key; and the leaner variants some clients ask for.
FULL_PLAIN = ("/users/me/stats", "/sync/last_activities", "/sync/history", "/sync/watched/movies",
              "/sync/ratings/movies", "/sync/ratings/shows", "/sync/ratings/seasons", "/sync/ratings/episodes",
              "/sync/ratings", "/sync/watchlist", "/sync/favorites", "/sync/playback", "/users/me/lists",
              "/users/me/lists/collaborations", "/users/me/likes/comments", "/users/me/likes/lists",
              "/users/me/notes/all", "/users/me/followers", "/users/me/following", "/users/me/friends",
              "/users/requests", "/users/blocked",
              *("/users/hidden/" + section for section in (*HIDDEN_SECTIONS, RESET_SECTION)))
FULL_RICH = (("/users/settings", {"extended": "sharing,browsing"}, "extended=sharing,browsing"),
             ("/users/me", {"extended": "full"}, "extended=full"),
             ("/sync/watched/shows", {"extended": "progress", "specials": "true"}, "extended=progress&specials=true"),
             ("/sync/collection/movies", {"extended": "metadata"}, "extended=metadata"),
             ("/sync/collection/shows", {"extended": "metadata"}, "extended=metadata"),
             ("/users/me/comments/all/all", {"include_replies": "true"}, "include_replies=true"))
FULL_LEAN = (("/sync/watched/shows?extended=progress", "/sync/watched/shows", {"extended": "progress"}),
             ("/sync/watched/shows?extended=min", "/sync/watched/shows", {}),
             ("/sync/collection/movies?extended=min", "/sync/collection/movies", {}),
             ("/sync/collection/shows?extended=min", "/sync/collection/shows", {}),
             ("/users/me?extended=min", "/users/me", {}),
             ("/users/settings?extended=min", "/users/settings", {}),
             ("/users/me/comments/all/all?include_replies=false", "/users/me/comments/all/all", {}))


def full_data(user):
    """Every endpoint -> its full JSON value (all pages), exactly as resolve_get serves it.

    Keys are plain paths; where trakt has richer variants the plain key holds what a complete
    backup fetches (the README's recommended parameters, ``FULL_RICH``); keys spelled with their
    query string are also present, plus the leaner variants of ``FULL_LEAN``."""
    out = {}

    def put(key, path, query=None):
        answer = resolve_get(user, path, query or {})
        out[key] = answer.value if isinstance(answer, Obj) else answer.all()

    for path in FULL_PLAIN:
        put(path, path)
    for path, query, query_string in FULL_RICH:
        put(path, path, query)
        out[path + "?" + query_string] = out[path]
    for key, path, query in FULL_LEAN:
        put(key, path, query)
    for listed in user.lists:
        put("/users/me/lists/%d/items" % listed["trakt"], "/users/me/lists/%d/items" % listed["trakt"])
    for listed in user.collaborations:
        path = "/users/%s/lists/%d/items" % (listed["owner"]["ids"]["slug"], listed["trakt"])
        put(path, path)
    if user.vip:
        for section in SAVED_FILTER_SECTIONS:
            put("/users/saved_filters/" + section, "/users/saved_filters/" + section)
    return out
