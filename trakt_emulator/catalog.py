"""The movies and shows one user's data points into: ids, titles and season structure.

Movies are tuples ``(trakt, slug, title, year, imdb, tmdb, runtime)``; shows are
``(trakt, slug, title, year, tvdb, imdb, tmdb, n_seasons, base_episodes, has_specials, runtime)``.
Season and episode ids are computed from (show, season, episode), so they need no storage.
"""

import random
from typing import Iterator, Optional

from .shared import MOVIE, SEASON, SHOW, slugify, unique_slug
from .words import ADJ, NOUN, ODD_TITLES

# Column numbers of a show tuple that other modules read.
SHOW_SEASONS, SHOW_SPECIALS, SHOW_RUNTIME = 7, 9, 10
MOVIE_TITLE, MOVIE_YEAR, MOVIE_RUNTIME = 2, 3, 6


def random_title(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(ODD_TITLES)
    if roll < 0.45:
        return "The %s %s" % (rng.choice(ADJ), rng.choice(NOUN))
    if roll < 0.75:
        return "%s %s" % (rng.choice(ADJ), rng.choice(NOUN))
    if roll < 0.9:
        return "%s of the %s %s" % (rng.choice(NOUN), rng.choice(ADJ), rng.choice(NOUN))
    return "%s %s %d" % (rng.choice(ADJ), rng.choice(NOUN), rng.randint(2, 4))


def _random_movies(rng: random.Random, count: int) -> list:
    movies, seen = [], set()
    ids = rng.sample(range(1, 2_000_000), count)
    for number in range(count):
        title = random_title(rng)
        year = rng.randint(1950, 2026) if rng.random() > 0.01 else None
        slug = unique_slug(slugify(title, "movie") + ("-%d" % year if year else ""), seen.__contains__)
        seen.add(slug)
        imdb = "tt%07d" % rng.randint(100000, 9999999) if rng.random() > 0.05 else None
        tmdb = rng.randint(10, 999999) if rng.random() > 0.03 else None
        movies.append((ids[number], slug, title, year, imdb, tmdb, rng.randint(72, 185)))
    return movies


def _random_shows(rng: random.Random, count: int) -> list:
    shows, seen = [], set()
    ids = rng.sample(range(1, 400_000), count)
    for number in range(count):
        title = random_title(rng)
        year = rng.randint(1960, 2026) if rng.random() > 0.01 else None
        base = slugify(title, "show") + ("-%d" % year if year and rng.random() < 0.3 else "")
        slug = unique_slug(base, seen.__contains__)
        seen.add(slug)
        n_seasons = min(25, 1 + int(rng.expovariate(1 / 3.0)))
        base_episodes = rng.randint(6, 24)
        specials = rng.random() < 0.2
        tvdb = rng.randint(70000, 450000) if rng.random() > 0.03 else None
        imdb = "tt%07d" % rng.randint(100000, 9999999) if rng.random() > 0.05 else None
        tmdb = rng.randint(10, 250000) if rng.random() > 0.03 else None
        shows.append((ids[number], slug, title, year, tvdb, imdb, tmdb, n_seasons, base_episodes,
                      specials, rng.choice((22, 25, 30, 42, 45, 50, 60))))
    return shows


class Catalog:
    """Movies and shows a user's data points into (ids, titles, season structure)."""

    EP_BASE = 10_000_000
    SEASON_BASE = 3_000_000

    def __init__(self, rng: random.Random, n_movies: int, n_shows: int):
        self.movies = _random_movies(rng, n_movies)
        self.shows = _random_shows(rng, n_shows)
        self._movie_index: Optional[dict] = None
        self._show_index: Optional[dict] = None

    # ------------------------------------------------------------------ structure
    def n_seasons(self, show: int) -> int:
        return self.shows[show][SHOW_SEASONS]

    def eps_in_season(self, show: int, season: int) -> int:
        row = self.shows[show]
        if season == 0:
            return 1 + (show % 3) if row[SHOW_SPECIALS] else 0
        if season < 0 or season > row[SHOW_SEASONS]:
            return 0
        return max(3, min(63, row[8] + ((show * 7 + season * 13) % 5) - 2))

    def iter_episodes(self, show: int, specials: bool = False) -> Iterator[tuple]:
        if specials:
            for episode in range(1, self.eps_in_season(show, 0) + 1):
                yield 0, episode
        for season in range(1, self.shows[show][SHOW_SEASONS] + 1):
            for episode in range(1, self.eps_in_season(show, season) + 1):
                yield season, episode

    def episode_id(self, show: int, season: int, episode: int) -> int:
        return self.EP_BASE + show * 2000 + season * 64 + episode

    def decode_episode_id(self, trakt: int) -> Optional[tuple]:
        offset = trakt - self.EP_BASE
        if offset < 0:
            return None
        show, rest = divmod(offset, 2000)
        season, episode = divmod(rest, 64)
        if show >= len(self.shows) or episode < 1 or episode > self.eps_in_season(show, season):
            return None
        return show, season, episode

    def season_id(self, show: int, season: int) -> int:
        return self.SEASON_BASE + show * 32 + season

    def decode_season_id(self, trakt: int) -> Optional[tuple]:
        offset = trakt - self.SEASON_BASE
        if offset < 0:
            return None
        show, season = divmod(offset, 32)
        if show >= len(self.shows) or (season == 0 and not self.shows[show][SHOW_SPECIALS]) \
                or season > self.shows[show][SHOW_SEASONS]:
            return None
        return show, season

    # ------------------------------------------------------------------ rendering
    def movie(self, index: int) -> dict:
        row = self.movies[index]
        return {"title": row[2], "year": row[3],
                "ids": {"trakt": row[0], "slug": row[1], "imdb": row[4], "tmdb": row[5]}}

    def show(self, index: int) -> dict:
        row = self.shows[index]
        return {"title": row[2], "year": row[3],
                "ids": {"trakt": row[0], "slug": row[1], "tvdb": row[4], "imdb": row[5], "tmdb": row[6]}}

    def season(self, show: int, season: int) -> dict:
        trakt = self.season_id(show, season)
        return {"number": season,
                "ids": {"trakt": trakt, "tvdb": 500000 + trakt % 900000, "tmdb": 60000 + trakt % 300000}}

    def episode(self, show: int, season: int, episode: int) -> dict:
        trakt = self.episode_id(show, season, episode)
        title = None if trakt % 53 == 0 else "%s %s" % (ADJ[trakt % len(ADJ)], NOUN[(trakt // 7) % len(NOUN)])
        return {"season": season, "number": episode, "title": title,
                "ids": {"trakt": trakt, "tvdb": 300000 + (trakt * 37) % 6_000_000,
                        "imdb": None if trakt % 3 else "tt%07d" % (trakt % 9_000_000),
                        "tmdb": None if trakt % 17 == 0 else 900000 + (trakt * 13) % 3_000_000}}

    def media(self, kind: int, index: int, season: int, episode: int) -> dict:
        """The type + media keys of an item (movie, show, season or episode)."""
        if kind == MOVIE:
            return {"type": "movie", "movie": self.movie(index)}
        if kind == SHOW:
            return {"type": "show", "show": self.show(index)}
        if kind == SEASON:
            return {"type": "season", "season": self.season(index, season), "show": self.show(index)}
        return {"type": "episode", "episode": self.episode(index, season, episode), "show": self.show(index)}

    def title_of(self, kind: int, index: int) -> str:
        return self.movies[index][MOVIE_TITLE] if kind == MOVIE else self.shows[index][2]

    # ------------------------------------------------------------------ lookups for writes
    def find_movie(self, ids) -> Optional[int]:
        if self._movie_index is None:
            self._movie_index = _id_index(self.movies, (("imdb", 4), ("tmdb", 5)))
        return _find(self._movie_index, ids)

    def find_show(self, ids) -> Optional[int]:
        if self._show_index is None:
            self._show_index = _id_index(self.shows, (("tvdb", 4), ("imdb", 5), ("tmdb", 6)))
        return _find(self._show_index, ids)


def _id_index(rows: list, id_columns) -> dict:
    index = {}
    for number, row in enumerate(rows):
        index[("trakt", row[0])] = number
        index[("slug", row[1])] = number
        for name, column in id_columns:
            if row[column] is not None:
                index[(name, row[column])] = number
    return index


def _find(index: dict, ids) -> Optional[int]:
    if not isinstance(ids, dict):
        return None
    for key in ("trakt", "slug", "imdb", "tmdb", "tvdb"):
        value = ids.get(key)
        if value is None:
            continue
        if key in ("trakt", "tmdb", "tvdb"):
            try:
                value = int(value)
            except (TypeError, ValueError):
                continue
        number = index.get((key, value))
        if number is not None:
            return number
    return None
