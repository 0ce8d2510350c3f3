"""One trakt user: account fields, generated data, and the changes the control API makes to it.

Record layouts (``kind``: 0 movie, 1 show, 2 season, 3 episode; ``index`` is a movie or show of
the user's catalog):
  history           (id, ts, action, kind, index, season, episode)
  ratings           (ts, rating, kind, index, season, episode)
  ranked            (rank, id, ts, kind, index, season, episode, note)  watchlist, favorites, list items
  playback          (id, progress, ts, kind, index, season, episode)
  collection_movies (ts, updated_ts, index, metadata bits)
  collection_shows  (ts, index, seasons collected or a frozenset of (season, episode))
Tuples keep a heavy user (100,000 plays) cheap in memory; they are rendered (``rendering.py``)
only when a page is served.  ``note`` is an index into NOTE_TEXT, -1 for none, or a string
written through the API.
"""

import bisect
import math
import random
import time
from typing import Optional

from .generation import generate
from .profiles import PROFILES
from .rendering import UserRendering
from .shared import EPISODE, MOVIE, stable_int, user_uuid


def watched_field(kind: int) -> str:
    return "movies.watched_at" if kind == MOVIE else "episodes.watched_at"


class UserData(UserRendering):
    """One user's account and data.  Not thread-safe by itself: State holds its data lock (shared to read)."""

    def __init__(self, username: str, slug: str, profile: str = "small", seed: Optional[int] = None,
                 sizes: Optional[dict] = None, vip: bool = False, locked: bool = False):
        self.sizes = profile_sizes(profile, sizes)
        if seed is None:
            seed = stable_int("seed", username) % 1_000_000
        self.username = username
        self.slug = slug
        self.profile = profile
        self.seed = seed
        self.vip = bool(vip)
        self.locked = bool(locked)
        self.uuid = user_uuid(username)
        self.trakt_id = 100_000 + stable_int("uid", username) % 9_000_000
        self.version = 0
        self._watched_cache = None
        started = time.perf_counter()
        generate(self, random.Random(seed))
        self.generation_seconds = time.perf_counter() - started
        # later mutations (add_plays) draw from their own stream, so they never shift seeded data
        self.rng = random.Random(seed * 7919 + 17)

    # ------------------------------------------------------------------ activities
    def bump(self, now: float, *fields: str) -> None:
        """Move some last_activities timestamps (and "all") strictly forward."""
        moment = max(float(now), self.activity_all + 0.001)
        moment = math.floor(moment * 1000 + 0.5) / 1000.0
        if moment <= self.activity_all:
            moment = self.activity_all + 0.001
        for field in fields:
            group, key = field.split(".")
            self.activities[group][key] = moment
        self.activity_all = moment
        self.version += 1

    # ------------------------------------------------------------------ watched (derived from history)
    def watched(self) -> tuple:
        """(movies, shows) watched, newest first: ``(index, plays, last_ts)`` and
        ``(index, plays, last_ts, {(season, episode): [plays, last_ts]})``; cached per version."""
        if self._watched_cache is not None and self._watched_cache[0] == self.version:
            return self._watched_cache[1], self._watched_cache[2]
        movies, shows = {}, {}
        for _id, ts, _action, kind, index, season, episode in self.history:   # newest first
            if kind == MOVIE:
                movie = movies.get(index)
                if movie is None:
                    movies[index] = [1, ts]
                else:
                    movie[0] += 1
                continue
            show = shows.get(index)
            if show is None:
                show = shows[index] = [0, ts, {}]
            show[0] += 1
            seen = show[2].get((season, episode))
            if seen is None:
                show[2][(season, episode)] = [1, ts]
            else:
                seen[0] += 1
        watched_movies = sorted(((index, v[0], v[1]) for index, v in movies.items()), key=lambda row: -row[2])
        watched_shows = sorted(((index, v[0], v[1], v[2]) for index, v in shows.items()), key=lambda row: -row[2])
        self._watched_cache = (self.version, watched_movies, watched_shows)
        return watched_movies, watched_shows

    def collected_episodes(self, record: tuple) -> list:
        """(season, episode) pairs of a collection_shows record."""
        _ts, show, what = record
        if isinstance(what, int):
            return [(season, episode) for season in range(1, what + 1)
                    for episode in range(1, self.catalog.eps_in_season(show, season) + 1)]
        return sorted(what)

    # ------------------------------------------------------------------ mutations
    def _next_play(self, watched_movies: list, watched_shows: list, added: set) -> tuple:
        """(kind, index, season, episode) of one new play: a movie, or a show's next unseen episode."""
        rng, catalog = self.rng, self.catalog
        if (rng.random() < 0.3 or not watched_shows) and catalog.movies:
            index = rng.choice(watched_movies)[0] if watched_movies and rng.random() < 0.3 \
                else rng.randrange(len(catalog.movies))
            return (MOVIE, index, 0, 0)
        if watched_shows and rng.random() < 0.8:
            show = rng.choice(watched_shows)
            index, seen = show[0], show[3]
            upcoming = next((pair for pair in catalog.iter_episodes(index)
                             if pair not in seen and (index,) + pair not in added), (1, 1))
        else:
            index = rng.randrange(len(catalog.shows))
            upcoming = (1, 1)
        added.add((index,) + upcoming)
        return (EPISODE, index) + upcoming

    def add_plays(self, count: int, now: float) -> list:
        """`count` new plays, newest first, all at or after the newest existing play."""
        watched_movies, watched_shows = self.watched()
        newest = self.history[0][1] if self.history else 0
        added: set = set()
        plays = [(max(int(now) - number, newest),) + self._next_play(watched_movies, watched_shows, added)
                 for number in range(count)]
        # plays[0] is the newest and gets the biggest id
        base = self.next_history_id
        new = [(base + count - 1 - number, play[0], 0) + play[1:] for number, play in enumerate(plays)]
        self.next_history_id = base + count
        self.history[0:0] = new
        fields = sorted({watched_field(play[1]) for play in plays})
        if fields:
            self.bump(now, *fields)
        return [self.render_history(record) for record in new]

    def insert_history(self, plays: list, now: float) -> None:
        """Insert (ts, kind, index, season, episode) plays at their place (history stays newest first)."""
        kinds = set()
        for ts, kind, index, season, episode in plays:
            record = (self.next_history_id, int(ts), 2, kind, index, season, episode)
            self.next_history_id += 1
            position = bisect.bisect_left(self.history, -record[1], key=lambda row: -row[1])
            self.history.insert(position, record)
            kinds.add(kind)
        fields = [watched_field(kind) for kind in kinds]
        if fields:
            self.bump(now, *fields)

    def move_play(self, item_id: int, ts: float, now: float) -> bool:
        """Give one play another time, keeping its id (what a bad sync at trakt's side can do; the API cannot)."""
        for position, record in enumerate(self.history):
            if record[0] == item_id:
                del self.history[position]
                moved = (record[0], int(ts), *record[2:])
                self.history.insert(bisect.bisect_left(self.history, -moved[1], key=lambda row: -row[1]), moved)
                self.bump(now, watched_field(record[3]))
                return True
        return False

    def remove_history(self, matches, now: float) -> list:
        kept, removed = [], []
        for record in self.history:
            (removed if matches(record) else kept).append(record)
        if removed:
            self.history = kept
            self.bump(now, *[watched_field(kind) for kind in {record[3] for record in removed}])
        return removed

    # ------------------------------------------------------------------ list lookup
    def find_list(self, list_id, owner_slug: Optional[str] = None) -> Optional[dict]:
        """A list of this user, or (owner_slug given) one they collaborate on owned by that slug."""
        if owner_slug is None:
            candidates = self.lists
        else:
            candidates = [listed for listed in self.collaborations if listed["owner"]["ids"]["slug"] == owner_slug]
        key = str(list_id)
        for listed in candidates:
            if (key.isdigit() and listed["trakt"] == int(key)) or listed["slug"] == key.lower():
                return listed
        return None

def profile_sizes(profile: str, overrides: Optional[dict]) -> dict:
    if profile not in PROFILES:
        raise ValueError("unknown profile %r (use one of %s)" % (profile, ", ".join(PROFILES)))
    sizes = dict(PROFILES[profile])
    for key, value in (overrides or {}).items():
        if key not in sizes:
            raise ValueError("unknown size key %r" % key)
        sizes[key] = value
    return sizes
