"""Generation of a user's small categories: people, lists, comments, likes, notes, hidden items,
saved filters, and the last-activities timestamps that summarise everything generated before.

These run after the big categories (``generation.py``) and draw from the same stream; see the
warning there about order.  Everything here is stored already rendered.
"""

from .draws import MIXED_KINDS, Draws
from .shared import (DAY, EPISODE, HIDDEN_SECTIONS, MOVIE, SAVED_FILTER_SECTIONS, SEASON, SHOW, iso, parse_iso,
                     slugify, unique_slug)
from .words import ADJ, COMMENT_TEXT, LIST_NAMES, NOTE_TEXT, NOUN, ODD_USERNAMES

SAVED_FILTER_PATHS = {"movies": ["/movies/trending", "/movies/recommended/weekly", "/movies/popular"],
                      "shows": ["/shows/trending", "/shows/watched/monthly", "/shows/anticipated"],
                      "calendars": ["/calendars/my/shows", "/calendars/all/movies"],
                      "search": ["/search/movie,show", "/search/person"]}


def generate_social(user, draws, list_sizes: list) -> None:
    others = generate_people(user, draws)
    generate_lists(user, draws, list_sizes, others)
    user.comments = generate_comments(user, draws)
    user.likes_comments = generate_comment_likes(draws, others)
    user.likes_lists = sorted(({"liked_at": draws.recent_iso(), "type": "list", "list": user.render_list(liked)}
                               for liked in user.liked_lists), key=lambda like: like["liked_at"], reverse=True)
    user.notes = generate_notes(draws)
    user.hidden = {section: generate_hidden(draws, section, others) for section in HIDDEN_SECTIONS}
    user.saved_filters = generate_saved_filters(draws)
    user.activities = generate_activities(user, draws)
    user.activity_all = max(value for group in user.activities.values() for value in group.values())
    user.hidden_resets = generate_resets(draws)


# --------------------------------------------------------------------------- people


def fake_user(draws, number: int) -> dict:
    rng = draws.rng
    if rng.random() < 0.1:
        username = rng.choice(ODD_USERNAMES) + ("" if rng.random() < 0.5 else str(number))
    else:
        username = "%s%s%d" % (rng.choice(ADJ).lower(), rng.choice(NOUN).lower(), rng.randint(1, 9999))
    return {"username": username, "private": rng.random() < 0.2, "deleted": False,
            "name": rng.choice([None, username.title(), "Jane Doe", "Ørjan", "李雷"]),
            "vip": rng.random() < 0.15, "vip_ep": False,
            "ids": {"slug": slugify(username, "user-%d" % number), "trakt": 10_000 + number * 13}}


def _newest_first(rows: list, key: str) -> list:
    return sorted(rows, key=lambda row: row[key], reverse=True)


def generate_people(user, draws) -> list:
    """Followers, following, friends, requests and blocks; returns the people left for likes and lists."""
    sizes = draws.sizes
    people = [fake_user(draws, number) for number in range(max(1, sizes["followers"] + sizes["following"]
                                                              + sizes["requests"] + sizes["requests_following"]
                                                              + sizes["blocked"] + 20))]
    taken = 0

    def take(count: int) -> list:
        nonlocal taken
        chosen = people[taken:taken + count]
        taken += count
        return chosen

    followers = take(sizes["followers"])
    friends = followers[:sizes["friends"]]           # friends follow each other
    following = take(max(0, sizes["following"] - len(friends))) + friends
    user.followers = _newest_first([{"followed_at": draws.recent_iso(), "user": u} for u in followers], "followed_at")
    user.following = _newest_first([{"followed_at": draws.recent_iso(), "user": u} for u in following], "followed_at")
    user.friends = [{"friends_at": draws.recent_iso(), "user": u} for u in friends]
    request_id = draws.rng.randint(100, 1000)
    user.requests = [{"id": request_id + number, "requested_at": draws.recent_iso(), "user": u}
                     for number, u in enumerate(take(sizes["requests"]))]
    user.requests_following = [{"id": request_id + 5000 + number, "requested_at": draws.recent_iso(), "user": u}
                               for number, u in enumerate(take(sizes["requests_following"]))]
    user.blocked = [{"blocked_at": draws.recent_iso(), "user": u} for u in take(sizes["blocked"])]
    return people[taken:] or people


# --------------------------------------------------------------------------- lists


class ListMaker:
    """Lists of any owner; slugs stay unique per owner and item ids never overlap between lists."""

    def __init__(self, draws):
        self.draws = draws
        self.seen_slugs = set()
        self.next_item_id = 100_000_000

    def make(self, trakt: int, owner: dict, n_items: int) -> dict:
        draws, rng = self.draws, self.draws.rng
        name = rng.choice(LIST_NAMES) if rng.random() < 0.6 else "%s %s" % (rng.choice(ADJ), rng.choice(NOUN))
        owner_slug = owner["ids"]["slug"]
        slug = unique_slug(slugify(name, "list"), lambda candidate: (owner_slug, candidate) in self.seen_slugs)
        self.seen_slugs.add((owner_slug, slug))
        items = draws.listed(n_items, MIXED_KINDS, self.next_item_id, draws.watched_movies, draws.watched_shows)
        self.next_item_id += 600 * max(n_items, 1)
        created = int(draws.timestamp())
        return {"trakt": trakt, "slug": slug, "name": name,
                "description": rng.choice([None, "", "My picks ✨", "Things I <3", "Line one\nLine two"]),
                "privacy": rng.choice(["private", "public", "public", "friends", "link"]),
                "display_numbers": rng.random() < 0.5, "allow_comments": rng.random() < 0.8,
                "sort_by": "rank", "sort_how": "asc", "created_at": created,
                "updated_at": max([created] + [item[2] for item in items]),
                "likes": rng.randint(0, 40), "comment_count": rng.randint(0, 5),
                "owner": owner, "items": items}


def generate_lists(user, draws, list_sizes: list, others: list) -> None:
    rng, sizes = draws.rng, draws.sizes
    n_owned, n_collaborations = sizes["lists"], sizes["collaborations"]
    list_ids = rng.sample(range(10_000, 40_000_000), n_owned + n_collaborations + sizes["likes_lists"])
    maker = ListMaker(draws)
    me = user.user_brief()
    user.lists = [maker.make(list_ids[number], me, list_sizes[number]) for number in range(n_owned)]
    user.collaborations = [maker.make(list_ids[n_owned + number], rng.choice(others), rng.randint(1, 30))
                           for number in range(n_collaborations)]
    user.liked_lists = [maker.make(list_ids[n_owned + n_collaborations + number], rng.choice(others), 0)
                        for number in range(sizes["likes_lists"])]


# --------------------------------------------------------------------------- comments, likes, notes


def _random_media(draws: Draws, shares: tuple, lists_of=None) -> dict:
    """A movie, show, season or episode chosen by one roll against the cumulative `shares`
    (movie, show, season); with `lists_of`, the lowest 8% of the roll picks one of that user's lists."""
    rng, catalog = draws.rng, draws.catalog
    roll = rng.random()
    if lists_of is not None and lists_of.lists and roll < 0.08:
        return {"type": "list", "list": lists_of.render_list(rng.choice(lists_of.lists))}
    if roll < shares[0]:
        return catalog.media(MOVIE, rng.randrange(draws.n_movies), 0, 0)
    if roll < shares[1]:
        return catalog.media(SHOW, rng.randrange(draws.n_shows), 0, 0)
    show = rng.randrange(draws.n_shows)
    if roll < shares[2]:
        return catalog.media(SEASON, show, draws.season_of(show), 0)
    return catalog.media(EPISODE, show, *draws.episode_of(show))


def generate_comments(user, draws: Draws) -> list:
    rng = draws.rng
    comment_id = rng.randint(10_000, 100_000)
    comments, parents = [], []
    me = user.user_brief()
    for _ in range(draws.sizes["comments"]):
        comment_id += rng.randint(1, 3000)
        created = int(draws.timestamp())
        is_reply = bool(parents) and rng.random() < 0.25
        media = _random_media(draws, (0.5, 0.7, 0.8), lists_of=user)
        text = rng.choice(COMMENT_TEXT)
        review = (not is_reply) and rng.random() < 0.1
        if review:
            text = " ".join([text] * 12)   # reviews are 200+ words
        comment = {"id": comment_id, "parent_id": rng.choice(parents) if is_reply else 0,
                   "created_at": iso(created), "updated_at": iso(created + rng.choice([0, 0, 0, 3600])),
                   "comment": text, "spoiler": rng.random() < 0.1, "review": review,
                   "replies": 0 if is_reply else rng.randint(0, 4), "likes": rng.randint(0, 25),
                   "language": "en", "user_rating": rng.choice([None, None, rng.randint(1, 10)]),
                   "user_stats": {"rating": None, "play_count": rng.randint(0, 3),
                                  "completed_count": rng.randint(0, 1)},
                   "user": me}
        if not is_reply:
            parents.append(comment_id)
        comments.append((created, dict(media, comment=comment)))
    comments.sort(key=lambda pair: -pair[0])
    return [item for _created, item in comments]


def generate_comment_likes(draws: Draws, others: list) -> list:
    rng = draws.rng
    likes = []
    for number in range(draws.sizes["likes_comments"]):
        author = rng.choice(others)
        created = int(draws.timestamp())
        likes.append({"liked_at": iso(created + rng.randint(0, 90 * DAY)), "type": "comment",
                      "comment": {"id": 5_000_000 + number * 17, "parent_id": 0, "created_at": iso(created),
                                  "updated_at": iso(created), "comment": rng.choice(COMMENT_TEXT),
                                  "spoiler": False, "review": False, "replies": rng.randint(0, 9),
                                  "likes": rng.randint(1, 300), "user_rating": None,
                                  "user_stats": {"rating": None, "play_count": 1, "completed_count": 1},
                                  "user": author}})
    return _newest_first(likes, "liked_at")


def generate_notes(draws: Draws) -> list:
    rng = draws.rng
    notes = []
    note_id = rng.randint(1000, 50_000)
    for _ in range(draws.sizes["notes"]):
        note_id += rng.randint(1, 200)
        media = _random_media(draws, (0.5, 0.75, 0.85))
        created = int(draws.timestamp())
        notes.append((created, {"id": note_id, "notes": rng.choice(NOTE_TEXT),
                                "privacy": rng.choice(["private", "friends", "public"]),
                                "spoiler": rng.random() < 0.1, "created_at": iso(created),
                                "updated_at": iso(created + rng.choice([0, 60, 86400])), "item": media}))
    notes.sort(key=lambda pair: -pair[0])
    return [note for _created, note in notes]


# --------------------------------------------------------------------------- hidden, saved filters


def _hidden_item(draws: Draws, section: str, others: list) -> dict:
    rng, catalog = draws.rng, draws.catalog
    hidden_at = draws.recent_iso()
    if section == "comments":
        return {"hidden_at": hidden_at, "type": "user", "user": rng.choice(others)}
    if section == "recommendations" and rng.random() < 0.5:
        return dict({"hidden_at": hidden_at}, **catalog.media(MOVIE, rng.randrange(draws.n_movies), 0, 0))
    if section == "progress_watched" and rng.random() < 0.15:
        show = rng.randrange(draws.n_shows)
        return dict({"hidden_at": hidden_at}, **catalog.media(SEASON, show, draws.season_of(show), 0))
    return dict({"hidden_at": hidden_at}, **catalog.media(SHOW, rng.randrange(draws.n_shows), 0, 0))


def generate_hidden(draws: Draws, section: str, others: list) -> list:
    items = [_hidden_item(draws, section, others) for _ in range(draws.sizes["hidden_" + section])]
    return _newest_first(items, "hidden_at")


def generate_resets(draws: Draws) -> list:
    """The shows whose watched progress was reset (``/users/hidden/progress_watched_reset``, which trakt's
    export reads but its API contract does not describe): shaped as hidden shows. Drawn last, so the data drawn
    before is the same with or without them; trakt gives no activity for a reset (a backup always reads them)."""
    items = [dict({"hidden_at": draws.recent_iso()}, **draws.catalog.media(SHOW, draws.rng.randrange(draws.n_shows),
                                                                            0, 0))
             for _ in range(draws.sizes.get("hidden_progress_watched_reset", 0))]
    return _newest_first(items, "hidden_at")


def generate_saved_filters(draws: Draws) -> dict:
    rng = draws.rng
    saved = {}
    filter_id = rng.randint(100, 900)
    for section in SAVED_FILTER_SECTIONS:
        items = []
        for number in range(draws.sizes["saved_filters"]):
            filter_id += 1
            items.append({"rank": number + 1, "id": filter_id, "section": section,
                          "name": rng.choice(["Top picks", "Sci-fi 2000s", "Ünïcode filter", "Short & sweet"]),
                          "path": rng.choice(SAVED_FILTER_PATHS[section]),
                          "query": rng.choice(["genres=action&years=2000-2020", "ratings=75-100",
                                               "countries=fr,jp&runtimes=60-120", "query=star%20wars"]),
                          "updated_at": draws.recent_iso()})
        saved[section] = items
    return saved


# --------------------------------------------------------------------------- last activities


def generate_activities(user, draws: Draws) -> dict:
    """Each timestamp is the newest of what it summarises; the ones nothing here produces are
    random (drawn in the order below: it is part of the data)."""
    def latest(rows, column, kind_column=None, kind=None):
        best = None
        for row in rows:
            if (kind_column is None or row[kind_column] == kind) and (best is None or row[column] > best):
                best = row[column]
        return float(best) if best is not None else float(draws.start)

    def random_recent():
        return float(int(draws.end - draws.rng.random() * draws.span / 4))

    def latest_iso(rows, key):
        return parse_iso(max(row[key] for row in rows)) if rows else random_recent()

    def newest_list(lists):
        return max([listed["updated_at"] for listed in lists] or [draws.start]) * 1.0

    history, ratings, watchlist, favorites, playback = (user.history, user.ratings, user.watchlist,
                                                       user.favorites, user.playback)
    return {
        "movies": {"watched_at": latest(history, 1, 3, MOVIE), "collected_at": latest(user.collection_movies, 0),
                   "rated_at": latest(ratings, 0, 2, MOVIE), "watchlisted_at": latest(watchlist, 2, 3, MOVIE),
                   "favorited_at": latest(favorites, 2, 3, MOVIE), "commented_at": random_recent(),
                   "paused_at": latest(playback, 2, 3, MOVIE), "hidden_at": random_recent()},
        "episodes": {"watched_at": latest(history, 1, 3, EPISODE), "collected_at": latest(user.collection_shows, 0),
                     "rated_at": latest(ratings, 0, 2, EPISODE), "watchlisted_at": latest(watchlist, 2, 3, EPISODE),
                     "commented_at": random_recent(), "paused_at": latest(playback, 2, 3, EPISODE)},
        "shows": {"rated_at": latest(ratings, 0, 2, SHOW), "watchlisted_at": latest(watchlist, 2, 3, SHOW),
                  "favorited_at": latest(favorites, 2, 3, SHOW), "commented_at": random_recent(),
                  "hidden_at": latest_iso(user.hidden["progress_watched"], "hidden_at"),
                  "dropped_at": latest_iso(user.hidden["dropped"], "hidden_at")},
        "seasons": {"rated_at": latest(ratings, 0, 2, SEASON), "watchlisted_at": latest(watchlist, 2, 3, SEASON),
                    "commented_at": random_recent(), "hidden_at": random_recent()},
        "comments": {"liked_at": latest_iso(user.likes_comments, "liked_at"), "reacted_at": random_recent(),
                     "blocked_at": random_recent()},
        "lists": {"liked_at": latest_iso(user.likes_lists, "liked_at"), "reacted_at": random_recent(),
                  "updated_at": newest_list(user.lists), "commented_at": random_recent()},
        "watchlist": {"updated_at": latest(watchlist, 2)},
        "favorites": {"updated_at": latest(favorites, 2)},
        "collaborations": {"updated_at": newest_list(user.collaborations)},
        "account": {"settings_at": random_recent(), "followed_at": latest_iso(user.followers, "followed_at"),
                    "following_at": latest_iso(user.following, "followed_at"), "pending_at": random_recent(),
                    "requested_at": latest_iso(user.requests, "requested_at")},
        "saved_filters": {"updated_at": random_recent()},
        "notes": {"updated_at": latest_iso(user.notes, "updated_at")},
    }
