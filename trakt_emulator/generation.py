"""Deterministic generation of one user's data from ``random.Random(seed)``.

The same (username, profile, seed, sizes) always gives the same data, byte for byte (pinned by
tests/test_emulator_digest.py): every generator below draws from the one shared stream, so the
order in which they run, and the order of draws inside each, is part of the data.  Reorder
nothing without recomputing the digests.

Big categories are kept as small tuples that reference the catalog (layouts in ``user.py``);
small ones (comments, likes, notes, people, hidden, saved filters) are stored already rendered.
"""

import random
from itertools import islice

from .catalog import Catalog
from .draws import MIXED_KINDS, Draws
from .generation_social import generate_social
from .shared import ANCHOR, DAY, EPISODE, HIDDEN_SECTIONS, MOVIE, SEASON, SHOW, YEAR

def catalog_sizes(sizes: dict, list_sizes: list) -> tuple:
    """How many movies and shows the catalog needs so that every category finds enough of them."""
    n_list_items = sum(list_sizes)
    hidden_total = sum(sizes["hidden_" + section] for section in HIDDEN_SECTIONS)
    n_movies = max(30, int(1.15 * (sizes["watched_movies"] + sizes["collection_movies"] * 0.5
                                   + sizes["watchlist"] * 0.6 + sizes["ratings_movies"] * 0.3
                                   + n_list_items * 0.3 + sizes["favorites"] + sizes["playback"]
                                   + hidden_total * 0.2)))
    n_shows = max(20, int(1.15 * (sizes["watched_shows"] + sizes["collection_shows"] * 0.5
                                  + sizes["watchlist"] * 0.3 + sizes["ratings_shows"] * 0.3
                                  + n_list_items * 0.2 + sizes["favorites"] + hidden_total)))
    return n_movies, n_shows


def list_item_counts(sizes: dict) -> list:
    """Items per owned list: ``list_items`` is one count, or counts repeated over the lists."""
    counts = sizes["list_items"]
    if isinstance(counts, int):
        counts = [counts]
    return [counts[number % len(counts)] for number in range(sizes["lists"])] if counts else []


def generate(user, rng: random.Random) -> None:
    """Fill `user` (a UserData with its account fields set) with its generated data."""
    sizes = user.sizes
    list_sizes = list_item_counts(sizes)
    catalog = user.catalog = Catalog(rng, *catalog_sizes(sizes, list_sizes))
    user.name = rng.choice(["Alice Martin", "Bob", "José Álvarez", None, "山田太郎", "O'Connor"])
    user.private = rng.random() < 0.3
    user.joined_at = ANCHOR - rng.randint(sizes["years"] * YEAR, (sizes["years"] + 2) * YEAR)
    span = sizes["years"] * YEAR
    user.t_end = end = ANCHOR - DAY
    user.t_start = start = end - span
    draws = Draws(rng, sizes, catalog, start, end, span)
    user.history = generate_history(draws)
    user.next_history_id = (max(r[0] for r in user.history) + 1) if user.history else 1_000_000
    user.collection_movies, user.collection_shows = generate_collection(draws)
    user.ratings = generate_ratings(draws)
    generate_ranked(user, draws)
    user.playback = generate_playback(draws)
    generate_social(user, draws, list_sizes)


# --------------------------------------------------------------------------- history


def _play_counts(draws: Draws) -> tuple:
    """(movie plays, episode plays): the profile's share, unless one side has nothing watched."""
    total = draws.sizes["history"]
    movie_plays = min(total, int(round(total * draws.sizes["movie_share"]))) if draws.watched_shows else total
    if not draws.watched_movies:
        movie_plays = 0
    episode_plays = total - movie_plays
    if episode_plays and not draws.watched_shows:
        movie_plays, episode_plays = total, 0
    return movie_plays, episode_plays


def _movie_plays(draws: Draws, count: int) -> list:
    """Every watched movie once, then rewatches that favour a few movies (a Pareto tail)."""
    rng = draws.rng
    movies = draws.watched_movies[:count]
    sequence = list(movies) + [movies[min(len(movies) - 1, int(rng.paretovariate(1.1)) - 1)]
                               if rng.random() < 0.5 else rng.choice(movies) for _ in range(count - len(movies))]
    return [(int(draws.timestamp()), MOVIE, movie, 0, 0) for movie in sequence]


def _episode_plays(draws: Draws, count: int) -> list:
    """Shows watched in order from the first episode, in binges spread over days to months."""
    rng, catalog = draws.rng, draws.catalog
    shows = draws.watched_shows[:count]
    weights = [rng.expovariate(1.0) for _ in shows]
    total_weight = sum(weights)
    spare = count - len(shows)
    per_show = [1 + int(spare * weight / total_weight) for weight in weights]
    for _ in range(count - sum(per_show)):
        per_show[rng.randrange(len(per_show))] += 1
    plays = []
    for show, wanted in zip(shows, per_show):
        episodes = list(islice(catalog.iter_episodes(show), wanted))
        if catalog.eps_in_season(show, 0) and rng.random() < 0.3:
            episodes.insert(rng.randrange(len(episodes) + 1), (0, 1))
            episodes = episodes[:wanted]
        while len(episodes) < wanted:
            episodes.append(draws.episode_of(show))
        first = draws.timestamp()
        duration = min(draws.end - first, rng.uniform(3, 500) * DAY)
        times = sorted(first + rng.random() * duration for _ in range(wanted))
        for (season, episode), moment in zip(episodes, times):
            plays.append((int(moment), EPISODE, show, season, episode))
    return plays


def _shared_timestamps(rng: random.Random, timestamps: list) -> None:
    """Plays in the same second, as real histories have (and a bulk import's run of them)."""
    for number in range(1, len(timestamps)):
        if rng.random() < 0.02:
            timestamps[number] = timestamps[number - 1]
    if len(timestamps) > 200:
        anchor = rng.randrange(len(timestamps) // 4, len(timestamps) // 2)
        for number in range(anchor + 1, min(len(timestamps), anchor + 1 + min(len(timestamps) // 50, 300))):
            timestamps[number] = timestamps[anchor]


def _history_ids(rng: random.Random, count: int) -> list:
    """Descending ids with a few swaps: ids mostly, not strictly, follow watched_at."""
    ids = sorted(rng.sample(range(1_000_000, 1_000_000 + max(count, 1) * 40), count), reverse=True)
    for _ in range(count // 50):
        first = rng.randrange(count)
        second = min(count - 1, first + rng.randint(1, 40))
        ids[first], ids[second] = ids[second], ids[first]
    return ids


def generate_history(draws: Draws) -> list:
    rng = draws.rng
    movie_plays, episode_plays = _play_counts(draws)
    plays = []
    if movie_plays:
        plays += _movie_plays(draws, movie_plays)
    if episode_plays:
        plays += _episode_plays(draws, episode_plays)
    plays.sort(key=lambda play: -play[0])
    timestamps = [play[0] for play in plays]
    _shared_timestamps(rng, timestamps)
    ids = _history_ids(rng, draws.sizes["history"])
    actions = (rng.random() for _ in plays)
    return [(ids[number], timestamps[number], 0 if roll < 0.7 else (1 if roll < 0.8 else 2)) + play[1:]
            for number, (play, roll) in enumerate(zip(plays, actions))]


# --------------------------------------------------------------------------- collection, ratings, ranked


def generate_collection(draws: Draws) -> tuple:
    rng, sizes = draws.rng, draws.sizes
    movies = draws.pick(sizes["collection_movies"], draws.watched_movies, draws.n_movies)
    collected_movies = sorted(((int(moment), int(moment) + rng.randint(0, 30 * DAY), movie, rng.randrange(1 << 16))
                               for movie, moment in zip(movies, (draws.timestamp() for _ in movies))),
                              key=lambda record: -record[0])
    shows = draws.pick(sizes["collection_shows"], draws.watched_shows, draws.n_shows)
    collected_shows = sorted(((int(draws.timestamp()), show, rng.randint(1, draws.catalog.n_seasons(show)))
                              for show in shows), key=lambda record: -record[0])
    return collected_movies, collected_shows


def _distinct_ratings(draws: Draws, count: int, kind: int, pool: list, item_of) -> list:
    """`count` ratings of distinct seasons or episodes (20 draws each to find a new one)."""
    ratings, seen = [], set()
    for _ in range(count):
        for _attempt in range(20):
            show = draws.rng.choice(pool)
            key = (show,) + item_of(show)
            if key not in seen:
                seen.add(key)
                ratings.append((int(draws.timestamp()), draws.rating(), kind) + key + (0,) * (3 - len(key)))
                break
    return ratings


def generate_ratings(draws: Draws) -> list:
    """All kinds in one list, newest first."""
    sizes = draws.sizes
    ratings = []
    for movie in draws.pick(sizes["ratings_movies"], draws.watched_movies, draws.n_movies, 0.9):
        ratings.append((int(draws.timestamp()), draws.rating(), MOVIE, movie, 0, 0))
    for show in draws.pick(sizes["ratings_shows"], draws.watched_shows, draws.n_shows, 0.9):
        ratings.append((int(draws.timestamp()), draws.rating(), SHOW, show, 0, 0))
    pool = draws.watched_shows or draws.show_order
    ratings += _distinct_ratings(draws, sizes["ratings_seasons"], SEASON, pool, lambda show: (draws.season_of(show),))
    ratings += _distinct_ratings(draws, sizes["ratings_episodes"], EPISODE, pool, draws.episode_of)
    ratings.sort(key=lambda record: -record[0])
    return ratings


def generate_ranked(user, draws: Draws) -> None:
    """Watchlist (mostly unwatched things) and favorites (mostly watched ones)."""
    sizes = draws.sizes
    unwatched_movies = draws.movie_order[len(draws.watched_movies):] or draws.movie_order
    user.watchlist = draws.listed(sizes["watchlist"], MIXED_KINDS, 40_000_000, unwatched_movies,
                                  draws.show_order[len(draws.watched_shows):])
    user.favorites = draws.listed(sizes["favorites"], [MOVIE, MOVIE, SHOW], 60_000_000, draws.watched_movies,
                                  draws.watched_shows)
    user.next_listed_id = 90_000_000


def generate_playback(draws: Draws) -> list:
    rng = draws.rng
    playback = []
    playback_id = rng.randint(1, 1000)
    for _ in range(draws.sizes["playback"]):
        playback_id += rng.randint(1, 50)
        if rng.random() < 0.5:
            item = (MOVIE, rng.randrange(draws.n_movies), 0, 0)
        else:
            show = rng.randrange(draws.n_shows)
            item = (EPISODE, show) + draws.episode_of(show)
        playback.append((playback_id, round(rng.uniform(1, 97), 2), int(draws.end - rng.random() * 90 * DAY)) + item)
    playback.sort(key=lambda record: -record[2])
    return playback
