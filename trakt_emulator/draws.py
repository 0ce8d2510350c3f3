"""The random stream of one user's generation, and the draws the category generators share."""

import random

from .catalog import Catalog
from .shared import EPISODE, MOVIE, SEASON, SHOW, iso
from .words import NOTE_TEXT

MIXED_KINDS = [MOVIE] * 6 + [SHOW] * 3 + [SEASON] + [EPISODE]


class Draws:
    """The random stream plus what every category generator needs to draw from it."""

    def __init__(self, rng: random.Random, sizes: dict, catalog: Catalog, start: int, end: int, span: int):
        self.rng = rng
        self.sizes = sizes
        self.catalog = catalog
        self.start, self.end, self.span = start, end, span
        self.n_movies = len(catalog.movies)
        self.n_shows = len(catalog.shows)
        self.movie_order = list(range(self.n_movies))
        rng.shuffle(self.movie_order)
        self.show_order = list(range(self.n_shows))
        rng.shuffle(self.show_order)
        self.watched_movies = self.movie_order[:min(sizes["watched_movies"], self.n_movies)]
        self.watched_shows = self.show_order[:min(sizes["watched_shows"], self.n_shows)]

    def timestamp(self) -> float:
        return self.start + self.rng.random() * self.span

    def recent_iso(self) -> str:
        return iso(self.end - self.rng.random() * self.span)

    def episode_of(self, show: int) -> tuple:
        season = self.rng.randint(1, self.catalog.n_seasons(show))
        return season, self.rng.randint(1, self.catalog.eps_in_season(show, season))

    def season_of(self, show: int) -> int:
        return self.rng.randint(1, self.catalog.n_seasons(show))

    def rating(self) -> int:
        return min(10, max(1, int(round(self.rng.gauss(7.2, 1.8)))))

    def pick(self, count: int, preferred: list, total: int, preferred_share: float = 0.7) -> list:
        """`count` distinct indexes below `total`, most of them from `preferred`."""
        rng = self.rng
        count = min(count, total)
        chosen, seen = [], set()
        from_preferred = min(int(count * preferred_share), len(preferred))
        for index in rng.sample(preferred, from_preferred) if from_preferred else []:
            chosen.append(index)
            seen.add(index)
        while len(chosen) < count:
            index = rng.randrange(total)
            if index not in seen:
                seen.add(index)
                chosen.append(index)
        return chosen

    def media_key(self, kind: int, preferred_movies: list, preferred_shows: list) -> tuple:
        """(kind, index, season, episode) of a random item, a third of them from the preferred ones."""
        rng = self.rng
        if kind == MOVIE:
            return (MOVIE, rng.choice(preferred_movies) if preferred_movies and rng.random() < 0.3
                    else rng.randrange(self.n_movies), 0, 0)
        show = rng.choice(preferred_shows) if preferred_shows and rng.random() < 0.3 else rng.randrange(self.n_shows)
        if kind == SHOW:
            return (SHOW, show, 0, 0)
        if kind == SEASON:
            return (SEASON, show, self.season_of(show), 0)
        return (EPISODE, show) + self.episode_of(show)

    def listed(self, count: int, kinds: list, start_id: int, preferred_movies: list, preferred_shows: list) -> list:
        """Ranked records (watchlist, favorites, list items): distinct items where 30 draws allow."""
        rng = self.rng
        records, seen = [], set()
        listed_id = start_id
        for rank in range(1, count + 1):
            for _attempt in range(30):
                key = self.media_key(kinds[rng.randrange(len(kinds))], preferred_movies, preferred_shows)
                if key not in seen:
                    break
            seen.add(key)
            listed_id += rng.randint(1, 500)
            note = rng.randrange(len(NOTE_TEXT)) if rng.random() < 0.15 else -1
            records.append((rank, listed_id, int(self.timestamp())) + key + (note,))
        return records
