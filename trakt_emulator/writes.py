"""Writes: sync add/remove, playback removal and list management for one user.

``apply_write`` routes a POST/PUT/DELETE; each category has its own writer.  Bodies are resolved
against the user's catalog first (``expand``), so every writer sees the same (kind, index,
season, episode) items and the same not_found block trakt answers with.
"""

import calendar
from urllib.parse import unquote

from .errors import BadRequest, LimitExceeded, NotFound
from .shared import ALL_KINDS, EPISODE, KIND_NAMES, MOVIE, SEASON, SHOW, as_int, iso, parse_iso, slugify, unique_slug


def _not_found_block():
    return {"movies": [], "shows": [], "seasons": [], "episodes": [], "people": []}


def _expand(user, body) -> tuple:
    """Resolve a sync body -> ([(kind, index, season, episode, src, parents, leaf)], not_found).

    ``src`` is the body's object for the item and ``parents`` the objects it is nested in (values
    such as watched_at are inherited from them); ``leaf`` is False for a show or season that
    lists its seasons or episodes, so writers act on those instead."""
    if not isinstance(body, dict):
        raise BadRequest("a JSON object is expected")
    catalog = user.catalog
    found, not_found = [], _not_found_block()
    for movie in body.get("movies") or []:
        index = catalog.find_movie((movie or {}).get("ids")) if isinstance(movie, dict) else None
        if index is None:
            not_found["movies"].append(movie)
        else:
            found.append((MOVIE, index, 0, 0, movie, (), True))
    for show in body.get("shows") or []:
        index = catalog.find_show((show or {}).get("ids")) if isinstance(show, dict) else None
        if index is None:
            not_found["shows"].append(show)
        else:
            found += _expand_show(catalog, index, show, not_found)
    for item, decode, kind in ((body.get("seasons"), catalog.decode_season_id, SEASON),
                               (body.get("episodes"), catalog.decode_episode_id, EPISODE)):
        for entry in item or []:
            ids = (entry or {}).get("ids") if isinstance(entry, dict) else None
            decoded = decode(as_int((ids or {}).get("trakt"), -1))
            if decoded is None:
                not_found[KIND_NAMES[kind] + "s"].append(entry)
            else:
                found.append((kind,) + tuple(decoded) + (0,) * (3 - len(decoded)) + (entry, (), True))
    return found, not_found


def _expand_show(catalog, index: int, show: dict, not_found: dict) -> list:
    """A show of a sync body, with the seasons and episodes it names."""
    seasons = show.get("seasons")
    found = [(SHOW, index, 0, 0, show, (), not seasons)]
    for season_entry in seasons or []:
        season = season_entry.get("number") if isinstance(season_entry, dict) else None
        if not isinstance(season, int) or catalog.eps_in_season(index, season) == 0:
            not_found["seasons"].append(season_entry)
            continue
        episodes = season_entry.get("episodes")
        found.append((SEASON, index, season, 0, season_entry, (show,), not episodes))
        for episode_entry in episodes or []:
            episode = episode_entry.get("number") if isinstance(episode_entry, dict) else None
            if not isinstance(episode, int) or episode < 1 or episode > catalog.eps_in_season(index, season):
                not_found["episodes"].append(episode_entry)
                continue
            found.append((EPISODE, index, season, episode, episode_entry, (season_entry, show), True))
    return found


def _inherit(key, src, parents, body):
    for source in (src,) + tuple(parents) + (body,):
        if isinstance(source, dict) and source.get(key) is not None:
            return source[key]
    return None


def _when(value, now, user=None, kind=None, media=None):
    if value in (None, "", "now"):
        return now
    if value == "released":
        if kind == MOVIE and user is not None and user.catalog.movies[media][3]:
            return float(calendar.timegm((user.catalog.movies[media][3], 1, 1, 0, 0, 0)))
        return now
    try:
        return parse_iso(str(value))
    except ValueError:
        raise BadRequest("invalid date %r" % (value,))


def _episodes_of(user, kind, media, season, episode):
    catalog = user.catalog
    if kind == EPISODE:
        return [(season, episode)]
    if kind == SEASON:
        return [(season, episode_number) for episode_number in range(1, catalog.eps_in_season(media, season) + 1)]
    return list(catalog.iter_episodes(media))


def _count_block(counts):
    return {"movies": counts.get(MOVIE, 0), "shows": counts.get(SHOW, 0), "seasons": counts.get(SEASON, 0),
            "episodes": counts.get(EPISODE, 0)}


def _write_history(user, body, now, remove):
    found, not_found = _expand(user, body)
    counts = {}
    if remove:
        ids = set()
        for raw_id in (body.get("ids") or []):
            history_id = as_int(raw_id, None)
            if history_id is not None:
                ids.add(history_id)
        targets = set()
        for kind, media, season, episode, src, parents, leaf in found:
            if not leaf:
                continue
            if kind == MOVIE:
                targets.add((MOVIE, media, 0, 0))
            else:
                for season_number, episode_number in _episodes_of(user, kind, media, season, episode):
                    targets.add((EPISODE, media, season_number, episode_number))
        removed = user.remove_history(lambda record: record[0] in ids or record[3:7] in targets, now)
        present = {record[0] for record in removed}
        for record in removed:
            counts[record[3]] = counts.get(record[3], 0) + 1
        not_found["ids"] = [raw_id for raw_id in (body.get("ids") or []) if as_int(raw_id, None) not in present]
        return 200, {"deleted": {"movies": counts.get(MOVIE, 0), "episodes": counts.get(EPISODE, 0)},
                     "not_found": not_found}
    recs = []
    for kind, media, season, episode, src, parents, leaf in found:
        if not leaf:
            continue
        ts = _when(_inherit("watched_at", src, parents, None), now, user, kind, media)
        if kind == MOVIE:
            recs.append((ts, MOVIE, media, 0, 0))
        else:
            for season_number, episode_number in _episodes_of(user, kind, media, season, episode):
                recs.append((ts, EPISODE, media, season_number, episode_number))
    for record in recs:
        counts[record[1]] = counts.get(record[1], 0) + 1
    user.insert_history(recs, now)
    return 201, {"added": {"movies": counts.get(MOVIE, 0), "episodes": counts.get(EPISODE, 0)}, "not_found": not_found}


def _write_ratings(user, body, now, remove):
    found, not_found = _expand(user, body)
    counts = {}
    kinds = set()
    position_of = {record[2:6]: position for position, record in enumerate(user.ratings)}
    drop = set()
    for kind, media, season, episode, src, parents, leaf in found:
        key = (kind, media, season, episode)
        if remove:
            if not leaf:
                continue
            if key in position_of:
                drop.add(position_of[key])
                counts[kind] = counts.get(kind, 0) + 1
                kinds.add(kind)
            continue
        rating = src.get("rating") if isinstance(src, dict) else None
        if rating is None:
            continue
        if not isinstance(rating, int) or not 1 <= rating <= 10:
            not_found[KIND_NAMES[kind] + "s"].append(src)
            continue
        ts = _when(src.get("rated_at"), now)
        if key in position_of:
            drop.add(position_of[key])
        user.ratings.append((int(ts), rating, kind, media, season, episode))
        counts[kind] = counts.get(kind, 0) + 1
        kinds.add(kind)
    if drop:
        user.ratings = [record for position, record in enumerate(user.ratings) if position not in drop]
    user.ratings.sort(key=lambda record: -record[0])
    if kinds:
        user.bump(now, *["%ss.rated_at" % KIND_NAMES[kind] for kind in kinds])
    return (200, {"deleted": _count_block(counts), "not_found": not_found}) if remove else \
        (201, {"added": _count_block(counts), "not_found": not_found})


def _write_listed(user, records, body, now, remove, allowed, limit, activity):
    """Add to / remove from a ranked collection (watchlist, favorites, a list). Returns (status, json, records)."""
    found, not_found = _expand(user, body)
    present = {(record[3], record[4], record[5], record[6]): record for record in records}
    counts, existing = {}, {}
    kinds = set()
    for kind, media, season, episode, src, parents, leaf in found:
        if not leaf:
            continue
        if kind not in allowed:
            not_found[KIND_NAMES[kind] + "s"].append(src)
            continue
        key = (kind, media, season, episode)
        if remove:
            if key in present:
                del present[key]
                counts[kind] = counts.get(kind, 0) + 1
                kinds.add(kind)
            continue
        if key in present:
            existing[kind] = existing.get(kind, 0) + 1
            continue
        if limit is not None and len(present) >= limit:
            raise LimitExceeded("account limit exceeded: %d items" % limit, limit)
        user.next_listed_id += 1
        note = src.get("notes") if isinstance(src, dict) else None
        rec = (0, user.next_listed_id, int(_when(src.get("listed_at") if isinstance(src, dict) else None, now)),
               kind, media, season, episode, note if isinstance(note, str) else None)
        present[key] = rec
        counts[kind] = counts.get(kind, 0) + 1
        kinds.add(kind)
    ordered = sorted(present.values(), key=lambda record: (record[0] == 0, record[0], record[1]))
    new_records = [(position + 1,) + record[1:] for position, record in enumerate(ordered)]
    if kinds:
        user.bump(now, *activity(kinds))
    result = {("deleted" if remove else "added"): _count_block(counts), "not_found": not_found}
    if not remove:
        result["existing"] = _count_block(existing)
    result["list"] = {"updated_at": iso(user.activity_all), "item_count": len(new_records)}
    return (200 if remove else 201), result, new_records


def _write_collection(user, body, now, remove):
    found, not_found = _expand(user, body)
    counts = {}
    movies = {record[2]: record for record in user.collection_movies}
    shows = {record[1]: record for record in user.collection_shows}
    for kind, media, season, episode, src, parents, leaf in found:
        if not leaf:
            continue
        ts = int(_when(_inherit("collected_at", src, parents, None), now))
        if kind == MOVIE:
            if remove:
                if movies.pop(media, None) is not None:
                    counts[MOVIE] = counts.get(MOVIE, 0) + 1
            elif media not in movies:
                movies[media] = (ts, ts, media, 0)
                counts[MOVIE] = counts.get(MOVIE, 0) + 1
            continue
        eps = set(_episodes_of(user, kind, media, season, episode))
        cur = shows.get(media)
        have = set(user.collected_episodes(cur)) if cur else set()
        if remove:
            left = have - eps
            counts[EPISODE] = counts.get(EPISODE, 0) + len(have & eps)
            if cur is not None:
                if left:
                    shows[media] = (cur[0], media, frozenset(left))
                else:
                    del shows[media]
        else:
            added = eps - have
            counts[EPISODE] = counts.get(EPISODE, 0) + len(added)
            if added:
                shows[media] = (max(ts, cur[0]) if cur else ts, media, frozenset(have | eps))
    user.collection_movies = sorted(movies.values(), key=lambda record: -record[0])
    user.collection_shows = sorted(shows.values(), key=lambda record: -record[0])
    fields = []
    if counts.get(MOVIE):
        fields.append("movies.collected_at")
    if counts.get(EPISODE):
        fields.append("episodes.collected_at")
    if fields:
        user.bump(now, *fields)
    block = {"movies": counts.get(MOVIE, 0), "episodes": counts.get(EPISODE, 0)}
    return (200, {"deleted": block, "not_found": not_found}) if remove else (201, {"added": block, "not_found": not_found})


def _list_limits(user) -> tuple:
    """(most lists, most items per list) for the account; None is no limit."""
    return (None, None) if user.vip else (2, 100)


def _watchlist_activity(kinds) -> list:
    return ["%ss.watchlisted_at" % KIND_NAMES[kind] for kind in kinds] + ["watchlist.updated_at"]


def _favorites_activity(kinds) -> list:
    return ["%ss.favorited_at" % KIND_NAMES[kind] for kind in kinds] + ["favorites.updated_at"]


def apply_write(user, method: str, path: str, body, now: float) -> tuple:
    """POST/PUT/DELETE for `user` -> (status, json value).  Raises NotFound/BadRequest/LimitExceeded."""
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if not isinstance(body, dict):
        raise BadRequest("a JSON object is expected")
    if method == "POST" and parts[0] == "sync" and len(parts) in (2, 3):
        return _sync_write(user, parts[1:], body, now)
    if method == "DELETE" and parts[:2] == ["sync", "playback"] and len(parts) == 3:
        return _remove_playback(user, parts[2], now)
    if len(parts) >= 3 and parts[0] == "users" and parts[1].lower() in ("me", user.slug) and parts[2] == "lists":
        return _lists_write(user, method, parts[3:], body, now)
    if parts[0] == "notes" and len(parts) <= 2:
        return _notes_write(user, method, parts[1:], body, now)
    raise NotFound("unknown endpoint")


NOTE_TYPES = ("movie", "show", "season", "episode")


def _notes_write(user, method: str, rest: list, body: dict, now: float) -> tuple:
    """POST /notes (a new note, each time: not idempotent) and DELETE /notes/<id>."""
    if method == "DELETE" and rest:
        wanted = as_int(rest[0], None)
        kept = [note for note in user.notes if note["id"] != wanted]
        if len(kept) == len(user.notes):
            raise NotFound("note not found")
        user.notes = kept
        user.bump(now, "notes.updated_at")
        return 204, None
    if method != "POST" or rest:
        raise NotFound("unknown endpoint")
    item, text = body.get("item"), body.get("notes")
    kind = item.get("type") if isinstance(item, dict) else None
    if kind not in NOTE_TYPES or not isinstance(text, str) or not text.strip() or len(text) > 500:
        raise BadRequest("a note needs an item (movie, show, season or episode) and its notes (up to 500 characters)")
    found, _not_found = _expand(user, {kind + "s": [item.get(kind)]})
    if not found:
        raise NotFound("item not found")
    media_kind, index, season, episode = found[0][:4]
    note = {"id": max([n["id"] for n in user.notes] + [0]) + 1, "notes": text,
            "privacy": body.get("privacy") if body.get("privacy") in ("private", "friends", "public") else "private",
            "spoiler": bool(body.get("spoiler")), "created_at": iso(now), "updated_at": iso(now),
            "item": user.catalog.media(media_kind, index, season, episode)}
    user.notes.insert(0, note)
    user.bump(now, "notes.updated_at")
    return 201, note


def _sync_write(user, parts: list, body: dict, now: float) -> tuple:
    """POST /sync/<category> and /sync/<category>/remove."""
    category, remove = parts[0], len(parts) == 2
    if remove and parts[1] != "remove":
        raise NotFound("unknown endpoint")
    if category == "history":
        return _write_history(user, body, now, remove)
    if category == "ratings":
        return _write_ratings(user, body, now, remove)
    if category == "collection":
        return _write_collection(user, body, now, remove)
    if category == "watchlist":
        limit = None if remove or user.vip else 100
        status, result, user.watchlist = _write_listed(user, user.watchlist, body, now, remove, ALL_KINDS, limit,
                                                       _watchlist_activity)
        return status, result
    if category == "favorites":
        limit = None if remove or user.vip else 50
        status, result, user.favorites = _write_listed(user, user.favorites, body, now, remove, (MOVIE, SHOW),
                                                       limit, _favorites_activity)
        return status, result
    raise NotFound("unknown endpoint")


def _remove_playback(user, playback_id: str, now: float) -> tuple:
    wanted = as_int(playback_id, None)
    before = len(user.playback)
    user.playback = [record for record in user.playback if record[0] != wanted]
    if len(user.playback) == before:
        raise NotFound("playback item not found")
    user.bump(now, "movies.paused_at", "episodes.paused_at")
    return 204, None


def _lists_write(user, method: str, rest: list, body: dict, now: float) -> tuple:
    """/users/me/lists[/<list>[/items[/remove]]]: create, update, delete, add and remove items."""
    if not rest and method == "POST":
        return _create_list(user, body, now)
    if not rest:
        raise NotFound("unknown endpoint")
    listed = user.find_list(rest[0])
    if listed is None:
        raise NotFound("list not found")
    tail = rest[1:]
    if not tail and method == "PUT":
        for key in ("name", "description", "privacy", "display_numbers", "allow_comments", "sort_by", "sort_how"):
            if key in body:
                listed[key] = body[key]
        listed["updated_at"] = now
        user.bump(now, "lists.updated_at")
        return 200, user.render_list(listed)
    if not tail and method == "DELETE":
        user.lists.remove(listed)
        user.bump(now, "lists.updated_at")
        return 204, None
    if method == "POST" and tail in (["items"], ["items", "remove"]):
        return _write_list_items(user, listed, body, now, remove=len(tail) == 2)
    raise NotFound("unknown endpoint")


def _create_list(user, body: dict, now: float) -> tuple:
    max_lists, _max_items = _list_limits(user)
    if max_lists is not None and len(user.lists) >= max_lists:
        raise LimitExceeded("account limit exceeded: %d lists" % max_lists, max_lists)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name is required")
    slug = unique_slug(slugify(name, "list"), lambda taken: any(other["slug"] == taken for other in user.lists))
    trakt = max([other["trakt"] for other in user.lists + user.collaborations + user.liked_lists]
                + [40_000_000]) + 1
    listed = {"trakt": trakt, "slug": slug, "name": name, "description": body.get("description"),
              "privacy": body.get("privacy", "private"), "display_numbers": bool(body.get("display_numbers")),
              "allow_comments": body.get("allow_comments", True), "sort_by": body.get("sort_by", "rank"),
              "sort_how": body.get("sort_how", "asc"), "created_at": now, "updated_at": now, "likes": 0,
              "comment_count": 0, "owner": user.user_brief(), "items": []}
    user.lists.append(listed)
    user.bump(now, "lists.updated_at")
    return 201, user.render_list(listed)


def _write_list_items(user, listed: dict, body: dict, now: float, remove: bool) -> tuple:
    _max_lists, max_items = _list_limits(user)
    status, result, listed["items"] = _write_listed(user, listed["items"], body, now, remove, ALL_KINDS,
                                                    None if remove else max_items, lambda kinds: ["lists.updated_at"])
    listed["updated_at"] = user.activity_all
    result["list"] = {"updated_at": iso(listed["updated_at"]), "item_count": len(listed["items"])}
    return status, result
