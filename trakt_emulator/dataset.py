"""Deterministic generation of a trakt user's data, and the read/write views over it.

Everything a user owns is generated from ``random.Random(seed)``: the same
(username, profile, seed, sizes) always gives the same data.  Big categories
(history, ratings, watchlist, favorites, collection, list items, playback) are
kept as small tuples that reference a per-user catalog of movies and shows;
they are turned into trakt-shaped JSON only when a page is served, so a
"heavy" user (100,000 plays) stays cheap in memory and serving one page never
copies the whole history.

Record layouts (``kind``: 0 movie, 1 show, 2 season, 3 episode):
  history    (id, ts, action, kind, a, b, c)    a=movie/show index, b=season, c=episode
  ratings    (ts, rating, kind, a, b, c)
  listed     (rank, id, ts, kind, a, b, c, note) watchlist, favorites, list items
  playback   (id, progress, ts, kind, a, b, c)
  coll_movie (ts, updated_ts, a, meta)
  coll_show  (ts, a, n_seasons)
Small categories (comments, likes, notes, social, hidden, saved filters) are
stored already rendered.
"""

import bisect
import calendar
import hashlib
import math
import random
import re
import time
import unicodedata
from datetime import datetime, timezone
from itertools import islice
from urllib.parse import unquote

# Data is anchored to a fixed instant so that generation is deterministic.
ANCHOR = calendar.timegm((2026, 7, 1, 0, 0, 0))
DAY = 86400
YEAR = 365 * DAY

MOVIE, SHOW, SEASON, EPISODE = 0, 1, 2, 3
KIND_NAMES = ("movie", "show", "season", "episode")
ACTIONS = ("scrobble", "checkin", "watch")

# --------------------------------------------------------------------------- helpers


def iso(ts):
    """Unix seconds -> trakt's ISO 8601 UTC with milliseconds."""
    total_ms = int(round(ts * 1000))
    s, ms = divmod(total_ms, 1000)
    t = time.gmtime(s)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
        t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ms)


def parse_iso(value):
    """ISO 8601 (``Z``, offsets, or a bare date) -> unix seconds; ValueError if bad."""
    v = value.strip()
    if v.endswith("Z") or v.endswith("z"):
        v = v[:-1] + "+00:00"
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def slugify(text, fallback="item"):
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    t = re.sub(r"[^a-z0-9]+", "-", t).strip("-")
    return t or fallback


def stable_int(*parts):
    h = hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big")


def user_uuid(username):
    h = hashlib.sha1(("trakt-emulator:" + username).encode("utf-8")).hexdigest()
    return "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])


class NotFound(Exception):
    pass


class VipOnly(Exception):
    pass


class BadRequest(Exception):
    pass


class LimitExceeded(Exception):
    """Account limit exceeded (HTTP 420)."""

    def __init__(self, message, limit):
        super().__init__(message)
        self.limit = limit


# --------------------------------------------------------------------------- words

ADJ = ["Silent", "Broken", "Golden", "Last", "Hidden", "Crimson", "Frozen", "Electric", "Lost",
       "Midnight", "Burning", "Savage", "Quiet", "Iron", "Paper", "Glass", "Hollow", "Wild",
       "Distant", "Bitter", "Velvet", "Northern", "Endless", "Secret", "Little", "Dark", "Bright",
       "Final", "Second", "Strange", "Lucky", "Rusty", "Violent", "Gentle", "Restless"]
NOUN = ["River", "Empire", "Garden", "Signal", "Harbor", "Machine", "Kingdom", "Protocol",
        "Frontier", "Shadow", "Orchard", "Station", "Mirror", "Circus", "Letter", "Horizon",
        "Voyage", "Island", "Witness", "Theory", "Engine", "Country", "Summer", "Winter", "Code",
        "Heart", "Storm", "Family", "Doctor", "Detective", "Lighthouse", "Border", "Archive"]
ODD_TITLES = ["Amélie", "Léon: The Professional", "千と千尋の神隠し", "Ōkami", "Crouching Tiger, Hidden Dragon",
              "Don't Look Up", 'The "Quoted" Movie', "Æon Flux", "Señor Ávila", "¡Three Amigos!",
              "Mr. & Mrs. Smith", "50/50", "M*A*S*H", "Shark 🦈 Attack", "Ça & Là", "Ζ",
              "Москва слезам не верит", "<script>alert(1)</script>", "100% Wolf", "What?!",
              "Tora! Tora! Tora!", "Ocean's Eleven", "Back to the Future Part II", "Se7en",
              "The Thing", "The Thing", "Dune", "Dune", "\u202eReversed", "Tab\tTitle", "  Spaces  "]
ODD_USERNAMES = ["Zoë", "ŁukaszK", "用户123", "o'brien", "a b c", "😀emoji", "JOHN_DOE", "sean-ø",
                 "x" * 40, "Null", "undefined", "Ångström"]
LIST_NAMES = ["Favourites", "Watch with kids", "Best of 2025", "Ünïcödé list ✨", "Horror 🎃",
              "To rewatch", "Director: Kubrick", "Slow cinema", "\"Quoted\" & <tagged>", "Best of 2025",
              "Sci-Fi", "Comfort shows", "Weekend", "Documentaries", "日本映画", "A/B test list"]
COMMENT_TEXT = ["Great pacing and a brilliant ending, would watch again.",
                "Not for everyone, but the cinematography alone makes it worth your time.",
                "Spoiler: the butler did it. Honestly the third act drags a lot.",
                "Ça m'a beaucoup plu — très belle photographie. 🎬",
                "I have mixed feelings about this one; the cast is great but the script is thin.",
                "Rewatched it with friends, still holds up after all these years!",
                "素晴らしい作品でした。Highly recommended for a rainy evening.",
                "The soundtrack is the real star here. <b>Loved it</b> & the score."]
NOTE_TEXT = ["Watched on the plane.", "Recommended by Anna", "Rewatch before the sequel",
             "Director's cut is better", "Saw it at the cinema 🍿", "Ending explained: ...",
             "Bought the Blu-ray", "Trop long, mais beau."]


def _title(rng):
    r = rng.random()
    if r < 0.05:
        return rng.choice(ODD_TITLES)
    if r < 0.45:
        return "The %s %s" % (rng.choice(ADJ), rng.choice(NOUN))
    if r < 0.75:
        return "%s %s" % (rng.choice(ADJ), rng.choice(NOUN))
    if r < 0.9:
        return "%s of the %s %s" % (rng.choice(NOUN), rng.choice(ADJ), rng.choice(NOUN))
    return "%s %s %d" % (rng.choice(ADJ), rng.choice(NOUN), rng.randint(2, 4))


# --------------------------------------------------------------------------- catalog


class Catalog:
    """Movies and shows a user's data points into (ids, titles, season structure)."""

    EP_BASE = 10_000_000
    SEASON_BASE = 3_000_000

    def __init__(self, rng, n_movies, n_shows):
        self.movies = []
        seen = set()
        ids = rng.sample(range(1, 2_000_000), n_movies)
        for i in range(n_movies):
            title = _title(rng)
            year = rng.randint(1950, 2026) if rng.random() > 0.01 else None
            base = slugify(title, "movie") + ("-%d" % year if year else "")
            slug, k = base, 2
            while slug in seen:
                slug, k = "%s-%d" % (base, k), k + 1
            seen.add(slug)
            imdb = "tt%07d" % rng.randint(100000, 9999999) if rng.random() > 0.05 else None
            tmdb = rng.randint(10, 999999) if rng.random() > 0.03 else None
            self.movies.append((ids[i], slug, title, year, imdb, tmdb, rng.randint(72, 185)))
        self.shows = []
        seen = set()
        ids = rng.sample(range(1, 400_000), n_shows)
        for i in range(n_shows):
            title = _title(rng)
            year = rng.randint(1960, 2026) if rng.random() > 0.01 else None
            base = slugify(title, "show") + ("-%d" % year if year and rng.random() < 0.3 else "")
            slug, k = base, 2
            while slug in seen:
                slug, k = "%s-%d" % (base, k), k + 1
            seen.add(slug)
            n_seasons = min(25, 1 + int(rng.expovariate(1 / 3.0)))
            base_eps = rng.randint(6, 24)
            specials = rng.random() < 0.2
            tvdb = rng.randint(70000, 450000) if rng.random() > 0.03 else None
            imdb = "tt%07d" % rng.randint(100000, 9999999) if rng.random() > 0.05 else None
            tmdb = rng.randint(10, 250000) if rng.random() > 0.03 else None
            self.shows.append((ids[i], slug, title, year, tvdb, imdb, tmdb, n_seasons, base_eps,
                               specials, rng.choice((22, 25, 30, 42, 45, 50, 60))))
        self._movie_idx = None
        self._show_idx = None

    # structure
    def n_seasons(self, i):
        return self.shows[i][7]

    def eps_in_season(self, i, s):
        sh = self.shows[i]
        if s == 0:
            return 1 + (i % 3) if sh[9] else 0
        if s < 0 or s > sh[7]:
            return 0
        return max(3, min(63, sh[8] + ((i * 7 + s * 13) % 5) - 2))

    def iter_episodes(self, i, specials=False):
        if specials:
            for e in range(1, self.eps_in_season(i, 0) + 1):
                yield 0, e
        for s in range(1, self.shows[i][7] + 1):
            for e in range(1, self.eps_in_season(i, s) + 1):
                yield s, e

    def episode_id(self, i, s, e):
        return self.EP_BASE + i * 2000 + s * 64 + e

    def decode_episode_id(self, trakt):
        x = trakt - self.EP_BASE
        if x < 0:
            return None
        i, rem = divmod(x, 2000)
        s, e = divmod(rem, 64)
        if i >= len(self.shows) or e < 1 or e > self.eps_in_season(i, s):
            return None
        return i, s, e

    def season_id(self, i, s):
        return self.SEASON_BASE + i * 32 + s

    def decode_season_id(self, trakt):
        x = trakt - self.SEASON_BASE
        if x < 0:
            return None
        i, s = divmod(x, 32)
        if i >= len(self.shows) or (s == 0 and not self.shows[i][9]) or s > self.shows[i][7]:
            return None
        return i, s

    # rendering
    def movie(self, i):
        m = self.movies[i]
        return {"title": m[2], "year": m[3], "ids": {"trakt": m[0], "slug": m[1], "imdb": m[4], "tmdb": m[5]}}

    def show(self, i):
        s = self.shows[i]
        return {"title": s[2], "year": s[3],
                "ids": {"trakt": s[0], "slug": s[1], "tvdb": s[4], "imdb": s[5], "tmdb": s[6]}}

    def season(self, i, s):
        sid = self.season_id(i, s)
        return {"number": s, "ids": {"trakt": sid, "tvdb": 500000 + sid % 900000, "tmdb": 60000 + sid % 300000}}

    def episode(self, i, s, e):
        x = self.episode_id(i, s, e)
        title = None if x % 53 == 0 else "%s %s" % (ADJ[x % len(ADJ)], NOUN[(x // 7) % len(NOUN)])
        return {"season": s, "number": e, "title": title,
                "ids": {"trakt": x, "tvdb": 300000 + (x * 37) % 6_000_000,
                        "imdb": None if x % 3 else "tt%07d" % (x % 9_000_000),
                        "tmdb": None if x % 17 == 0 else 900000 + (x * 13) % 3_000_000}}

    def media(self, kind, a, b, c):
        """The type + media keys of an item (movie, show, season or episode)."""
        if kind == MOVIE:
            return {"type": "movie", "movie": self.movie(a)}
        if kind == SHOW:
            return {"type": "show", "show": self.show(a)}
        if kind == SEASON:
            return {"type": "season", "season": self.season(a, b), "show": self.show(a)}
        return {"type": "episode", "episode": self.episode(a, b, c), "show": self.show(a)}

    # lookups used by write endpoints
    def _index(self, rows, id_cols):
        idx = {}
        for n, r in enumerate(rows):
            idx[("trakt", r[0])] = n
            idx[("slug", r[1])] = n
            for name, col in id_cols:
                if r[col] is not None:
                    idx[(name, r[col])] = n
        return idx

    def find_movie(self, ids):
        if self._movie_idx is None:
            self._movie_idx = self._index(self.movies, (("imdb", 4), ("tmdb", 5)))
        return self._find(self._movie_idx, ids)

    def find_show(self, ids):
        if self._show_idx is None:
            self._show_idx = self._index(self.shows, (("tvdb", 4), ("imdb", 5), ("tmdb", 6)))
        return self._find(self._show_idx, ids)

    @staticmethod
    def _find(idx, ids):
        if not isinstance(ids, dict):
            return None
        for key in ("trakt", "slug", "imdb", "tmdb", "tvdb"):
            v = ids.get(key)
            if v is None:
                continue
            if key in ("trakt", "tmdb", "tvdb"):
                try:
                    v = int(v)
                except (TypeError, ValueError):
                    continue
            n = idx.get((key, v))
            if n is not None:
                return n
        return None


# --------------------------------------------------------------------------- profiles

PROFILES = {
    "tiny": dict(
        years=1, history=12, movie_share=0.4, watched_movies=3, watched_shows=2,
        collection_movies=3, collection_shows=2, ratings_movies=2, ratings_shows=2,
        ratings_seasons=1, ratings_episodes=2, watchlist=4, favorites=2, playback=2,
        hidden_calendar=1, hidden_progress_watched=1, hidden_progress_collected=1,
        hidden_recommendations=2, hidden_comments=1, hidden_dropped=1,
        lists=2, list_items=3, collaborations=1, comments=3, likes_comments=2, likes_lists=2,
        notes=2, followers=2, following=2, friends=1, requests=1, requests_following=1,
        blocked=1, saved_filters=1),
    "small": dict(
        years=4, history=600, movie_share=0.3, watched_movies=110, watched_shows=25,
        collection_movies=140, collection_shows=15, ratings_movies=120, ratings_shows=30,
        ratings_seasons=10, ratings_episodes=60, watchlist=130, favorites=30, playback=6,
        hidden_calendar=5, hidden_progress_watched=8, hidden_progress_collected=4,
        hidden_recommendations=12, hidden_comments=2, hidden_dropped=3,
        lists=3, list_items=[260, 45, 7], collaborations=1, comments=27, likes_comments=15,
        likes_lists=6, notes=12, followers=18, following=25, friends=9, requests=2,
        requests_following=1, blocked=2, saved_filters=3),
    "medium": dict(
        years=8, history=5000, movie_share=0.25, watched_movies=700, watched_shows=200,
        collection_movies=600, collection_shows=60, ratings_movies=150, ratings_shows=60,
        ratings_seasons=30, ratings_episodes=60, watchlist=400, favorites=60, playback=15,
        hidden_calendar=30, hidden_progress_watched=40, hidden_progress_collected=20,
        hidden_recommendations=50, hidden_comments=5, hidden_dropped=25,
        lists=10, list_items=[80, 250, 12, 40, 1, 120, 30, 60, 9, 200], collaborations=2,
        comments=120, likes_comments=80, likes_lists=30, notes=60, followers=150, following=200,
        friends=60, requests=5, requests_following=3, blocked=5, saved_filters=5),
    "heavy": dict(
        years=15, history=100_000, movie_share=0.25, watched_movies=12_000, watched_shows=3_000,
        collection_movies=5_000, collection_shows=800, ratings_movies=4_000, ratings_shows=2_000,
        ratings_seasons=1_000, ratings_episodes=3_000, watchlist=2_500, favorites=100, playback=60,
        hidden_calendar=300, hidden_progress_watched=300, hidden_progress_collected=200,
        hidden_recommendations=300, hidden_comments=40, hidden_dropped=150,
        lists=100, list_items=250, collaborations=5, comments=1_500, likes_comments=1_000,
        likes_lists=400, notes=900, followers=3_000, following=800, friends=400, requests=25,
        requests_following=10, blocked=40, saved_filters=10),
}

HIDDEN_SECTIONS = ("calendar", "progress_watched", "progress_collected", "recommendations",
                   "comments", "dropped")
SAVED_FILTER_SECTIONS = ("movies", "shows", "calendars", "search")

# --------------------------------------------------------------------------- the user


class UserData:
    """One user's account and data.  Not thread-safe by itself: State holds the lock."""

    def __init__(self, username, slug, profile="small", seed=None, sizes=None, vip=False,
                 locked=False):
        if profile not in PROFILES:
            raise ValueError("unknown profile %r (use one of %s)" % (profile, ", ".join(PROFILES)))
        cfg = dict(PROFILES[profile])
        for k, v in (sizes or {}).items():
            if k not in cfg:
                raise ValueError("unknown size key %r" % k)
            cfg[k] = v
        if seed is None:
            seed = stable_int("seed", username) % 1_000_000
        self.username = username
        self.slug = slug
        self.profile = profile
        self.seed = seed
        self.sizes = cfg
        self.vip = bool(vip)
        self.locked = bool(locked)
        self.uuid = user_uuid(username)
        self.trakt_id = 100_000 + stable_int("uid", username) % 9_000_000
        self.version = 0
        self._watched_cache = None
        t0 = time.perf_counter()
        self._generate(random.Random(seed))
        self.generation_seconds = time.perf_counter() - t0
        # later mutations (add_plays) draw from their own stream
        self.rng = random.Random(seed * 7919 + 17)

    # ------------------------------------------------------------------ generation
    def _generate(self, rng):
        c = self.sizes
        list_sizes = c["list_items"]
        if isinstance(list_sizes, int):
            list_sizes = [list_sizes]
        list_sizes = [list_sizes[i % len(list_sizes)] for i in range(c["lists"])] if list_sizes else []
        n_list_items = sum(list_sizes)
        hidden_total = sum(c["hidden_" + s] for s in HIDDEN_SECTIONS)
        n_movies = max(30, int(1.15 * (c["watched_movies"] + c["collection_movies"] * 0.5 + c["watchlist"] * 0.6
                                       + c["ratings_movies"] * 0.3 + n_list_items * 0.3 + c["favorites"]
                                       + c["playback"] + hidden_total * 0.2)))
        n_shows = max(20, int(1.15 * (c["watched_shows"] + c["collection_shows"] * 0.5 + c["watchlist"] * 0.3
                                      + c["ratings_shows"] * 0.3 + n_list_items * 0.2 + c["favorites"]
                                      + hidden_total)))
        self.catalog = cat = Catalog(rng, n_movies, n_shows)
        self.name = rng.choice(["Alice Martin", "Bob", "José Álvarez", None, "山田太郎", "O'Connor"])
        self.private = rng.random() < 0.3
        self.joined_at = ANCHOR - rng.randint(c["years"] * YEAR, (c["years"] + 2) * YEAR)
        span = c["years"] * YEAR
        self.t_end = end = ANCHOR - DAY
        self.t_start = start = end - span

        def rand_ts():
            return start + rng.random() * span

        movie_order = list(range(n_movies))
        rng.shuffle(movie_order)
        show_order = list(range(n_shows))
        rng.shuffle(show_order)
        watched_m = movie_order[:min(c["watched_movies"], n_movies)]
        watched_s = show_order[:min(c["watched_shows"], n_shows)]

        def pick(n, preferred, total, pref_share=0.7):
            """n distinct indexes, most of them from `preferred`."""
            n = min(n, total)
            chosen, seen = [], set()
            k = min(int(n * pref_share), len(preferred))
            for x in rng.sample(preferred, k) if k else []:
                chosen.append(x)
                seen.add(x)
            while len(chosen) < n:
                x = rng.randrange(total)
                if x not in seen:
                    seen.add(x)
                    chosen.append(x)
            return chosen

        def random_episode(i):
            s = rng.randint(1, cat.n_seasons(i))
            return s, rng.randint(1, cat.eps_in_season(i, s))

        # ---- history
        n = c["history"]
        n_mp = min(n, int(round(n * c["movie_share"]))) if watched_s else n
        if not watched_m:
            n_mp = 0
        n_ep = n - n_mp
        if n_ep and not watched_s:
            n_mp, n_ep = n, 0
        plays = []
        if n_mp:
            wm = watched_m[:n_mp]
            seq = list(wm) + [wm[min(len(wm) - 1, int(rng.paretovariate(1.1)) - 1)] if rng.random() < 0.5
                              else rng.choice(wm) for _ in range(n_mp - len(wm))]
            for m in seq:
                plays.append((int(rand_ts()), MOVIE, m, 0, 0))
        if n_ep:
            ws = watched_s[:n_ep]
            weights = [rng.expovariate(1.0) for _ in ws]
            total_w = sum(weights)
            rem = n_ep - len(ws)
            counts = [1 + int(rem * w / total_w) for w in weights]
            for _ in range(n_ep - sum(counts)):
                counts[rng.randrange(len(counts))] += 1
            for show, k in zip(ws, counts):
                eps = list(islice(cat.iter_episodes(show), k))
                if cat.eps_in_season(show, 0) and rng.random() < 0.3:
                    eps.insert(rng.randrange(len(eps) + 1), (0, 1))
                    eps = eps[:k]
                while len(eps) < k:
                    eps.append(random_episode(show))
                t0 = rand_ts()
                dur = min(end - t0, rng.uniform(3, 500) * DAY)
                tss = sorted(t0 + rng.random() * dur for _ in range(k))
                for (s, e), t in zip(eps, tss):
                    plays.append((int(t), EPISODE, show, s, e))
        plays.sort(key=lambda p: -p[0])
        ts = [p[0] for p in plays]
        for i in range(1, len(ts)):
            if rng.random() < 0.02:
                ts[i] = ts[i - 1]           # exact same second as the previous play
        if len(ts) > 200:                   # a bulk import: many plays share one timestamp
            p = rng.randrange(len(ts) // 4, len(ts) // 2)
            for i in range(p + 1, min(len(ts), p + 1 + min(len(ts) // 50, 300))):
                ts[i] = ts[p]
        ids = sorted(rng.sample(range(1_000_000, 1_000_000 + max(n, 1) * 40), n), reverse=True)
        for _ in range(n // 50):            # ids mostly, not strictly, follow watched_at
            i = rng.randrange(n)
            j = min(n - 1, i + rng.randint(1, 40))
            ids[i], ids[j] = ids[j], ids[i]
        self.history = [(ids[i], ts[i], 0 if r < 0.7 else (1 if r < 0.8 else 2), p[1], p[2], p[3], p[4])
                        for i, (p, r) in enumerate(zip(plays, (rng.random() for _ in plays)))]
        self.next_history_id = (max(ids) + 1) if ids else 1_000_000

        # ---- collection
        cm = pick(c["collection_movies"], watched_m, n_movies)
        self.collection_movies = sorted(((int(t), int(t) + rng.randint(0, 30 * DAY), m, rng.randrange(1 << 16))
                                         for m, t in zip(cm, (rand_ts() for _ in cm))), key=lambda r: -r[0])
        cs = pick(c["collection_shows"], watched_s, n_shows)
        self.collection_shows = sorted(((int(rand_ts()), s, rng.randint(1, cat.n_seasons(s))) for s in cs),
                                       key=lambda r: -r[0])

        # ---- ratings (all kinds in one list, newest first)
        def rating():
            return min(10, max(1, int(round(rng.gauss(7.2, 1.8)))))

        ratings = []
        for m in pick(c["ratings_movies"], watched_m, n_movies, 0.9):
            ratings.append((int(rand_ts()), rating(), MOVIE, m, 0, 0))
        rated_shows = pick(c["ratings_shows"], watched_s, n_shows, 0.9)
        for s in rated_shows:
            ratings.append((int(rand_ts()), rating(), SHOW, s, 0, 0))
        seen = set()
        pool = watched_s or show_order
        for _ in range(c["ratings_seasons"]):
            for _attempt in range(20):
                sh = rng.choice(pool)
                key = (sh, rng.randint(1, cat.n_seasons(sh)))
                if key not in seen:
                    seen.add(key)
                    ratings.append((int(rand_ts()), rating(), SEASON, sh, key[1], 0))
                    break
        seen = set()
        for _ in range(c["ratings_episodes"]):
            for _attempt in range(20):
                sh = rng.choice(pool)
                key = (sh,) + random_episode(sh)
                if key not in seen:
                    seen.add(key)
                    ratings.append((int(rand_ts()), rating(), EPISODE) + key)
                    break
        ratings.sort(key=lambda r: -r[0])
        self.ratings = ratings

        # ---- watchlist, favorites, playback
        def listed(count, kinds, start_id, preferred_movies, preferred_shows):
            out, seen_items = [], set()
            lid = start_id
            for rank in range(1, count + 1):
                for _attempt in range(30):
                    kind = kinds[rng.randrange(len(kinds))]
                    if kind == MOVIE:
                        key = (MOVIE, rng.choice(preferred_movies) if preferred_movies and rng.random() < 0.3
                               else rng.randrange(n_movies), 0, 0)
                    else:
                        sh = rng.choice(preferred_shows) if preferred_shows and rng.random() < 0.3 \
                            else rng.randrange(n_shows)
                        if kind == SHOW:
                            key = (SHOW, sh, 0, 0)
                        elif kind == SEASON:
                            key = (SEASON, sh, rng.randint(1, cat.n_seasons(sh)), 0)
                        else:
                            key = (EPISODE, sh) + random_episode(sh)
                    if key not in seen_items:
                        break
                seen_items.add(key)
                lid += rng.randint(1, 500)
                note = rng.randrange(len(NOTE_TEXT)) if rng.random() < 0.15 else -1
                out.append((rank, lid, int(rand_ts())) + key + (note,))
            return out

        mixed = [MOVIE] * 6 + [SHOW] * 3 + [SEASON] + [EPISODE]
        unwatched_m = movie_order[len(watched_m):] or movie_order
        self.watchlist = listed(c["watchlist"], mixed, 40_000_000, unwatched_m, show_order[len(watched_s):])
        self.favorites = listed(c["favorites"], [MOVIE, MOVIE, SHOW], 60_000_000, watched_m, watched_s)
        self.next_listed_id = 90_000_000
        pb = []
        pid = rng.randint(1, 1000)
        for _ in range(c["playback"]):
            pid += rng.randint(1, 50)
            if rng.random() < 0.5:
                item = (MOVIE, rng.randrange(n_movies), 0, 0)
            else:
                sh = rng.randrange(n_shows)
                item = (EPISODE, sh) + random_episode(sh)
            pb.append((pid, round(rng.uniform(1, 97), 2), int(end - rng.random() * 90 * DAY)) + item)
        pb.sort(key=lambda r: -r[2])
        self.playback = pb

        # ---- people
        def fake_user(k):
            r = rng.random()
            if r < 0.1:
                uname = rng.choice(ODD_USERNAMES) + ("" if rng.random() < 0.5 else str(k))
            else:
                uname = "%s%s%d" % (rng.choice(ADJ).lower(), rng.choice(NOUN).lower(), rng.randint(1, 9999))
            return {"username": uname, "private": rng.random() < 0.2, "deleted": False,
                    "name": rng.choice([None, uname.title(), "Jane Doe", "Ørjan", "李雷"]),
                    "vip": rng.random() < 0.15, "vip_ep": False,
                    "ids": {"slug": slugify(uname, "user-%d" % k), "trakt": 10_000 + k * 13}}

        people = [fake_user(k) for k in range(max(1, c["followers"] + c["following"] + c["requests"]
                                                  + c["requests_following"] + c["blocked"] + 20))]
        pos = 0

        def take(k):
            nonlocal pos
            out = people[pos:pos + k]
            pos += k
            return out

        def recent():
            return iso(end - rng.random() * span)

        followers = take(c["followers"])
        friends = followers[:c["friends"]]           # friends follow each other
        following = take(max(0, c["following"] - len(friends))) + friends
        self.followers = sorted(({"followed_at": recent(), "user": u} for u in followers),
                                key=lambda x: x["followed_at"], reverse=True)
        self.following = sorted(({"followed_at": recent(), "user": u} for u in following),
                                key=lambda x: x["followed_at"], reverse=True)
        self.friends = [{"friends_at": recent(), "user": u} for u in friends]
        rid = rng.randint(100, 1000)
        self.requests = [{"id": rid + k, "requested_at": recent(), "user": u}
                         for k, u in enumerate(take(c["requests"]))]
        self.requests_following = [{"id": rid + 5000 + k, "requested_at": recent(), "user": u}
                                   for k, u in enumerate(take(c["requests_following"]))]
        self.blocked = [{"blocked_at": recent(), "user": u} for u in take(c["blocked"])]
        others = people[pos:] or people

        # ---- lists
        list_ids = rng.sample(range(10_000, 40_000_000), c["lists"] + c["collaborations"] + c["likes_lists"])
        self.lists = []
        seen_slugs = set()
        lid = 100_000_000

        def make_list(trakt, owner, n_items):
            nonlocal lid
            name = rng.choice(LIST_NAMES) if rng.random() < 0.6 else "%s %s" % (rng.choice(ADJ), rng.choice(NOUN))
            base = slugify(name, "list")
            slug, k = base, 2
            while (owner["ids"]["slug"], slug) in seen_slugs:
                slug, k = "%s-%d" % (base, k), k + 1
            seen_slugs.add((owner["ids"]["slug"], slug))
            items = listed(n_items, mixed, lid, watched_m, watched_s)
            lid += 600 * max(n_items, 1)
            created = int(rand_ts())
            return {"trakt": trakt, "slug": slug, "name": name,
                    "description": rng.choice([None, "", "My picks ✨", "Things I <3", "Line one\nLine two"]),
                    "privacy": rng.choice(["private", "public", "public", "friends", "link"]),
                    "display_numbers": rng.random() < 0.5, "allow_comments": rng.random() < 0.8,
                    "sort_by": "rank", "sort_how": "asc", "created_at": created,
                    "updated_at": max([created] + [it[2] for it in items]),
                    "likes": rng.randint(0, 40), "comment_count": rng.randint(0, 5),
                    "owner": owner, "items": items}

        me = self.user_brief()
        for k in range(c["lists"]):
            self.lists.append(make_list(list_ids[k], me, list_sizes[k]))
        self.collaborations = [make_list(list_ids[c["lists"] + k], rng.choice(others), rng.randint(1, 30))
                               for k in range(c["collaborations"])]
        self.liked_lists = [make_list(list_ids[c["lists"] + c["collaborations"] + k], rng.choice(others), 0)
                            for k in range(c["likes_lists"])]

        # ---- comments, likes, notes
        cid = rng.randint(10_000, 100_000)
        comments = []
        parents = []
        for k in range(c["comments"]):
            cid += rng.randint(1, 3000)
            created = int(rand_ts())
            is_reply = bool(parents) and rng.random() < 0.25
            target = rng.random()
            if self.lists and target < 0.08:
                media = {"type": "list", "list": self.render_list(rng.choice(self.lists))}
            elif target < 0.5:
                media = cat.media(MOVIE, rng.randrange(n_movies), 0, 0)
            elif target < 0.7:
                media = cat.media(SHOW, rng.randrange(n_shows), 0, 0)
            elif target < 0.8:
                sh = rng.randrange(n_shows)
                media = cat.media(SEASON, sh, rng.randint(1, cat.n_seasons(sh)), 0)
            else:
                sh = rng.randrange(n_shows)
                media = cat.media(EPISODE, sh, *random_episode(sh))
            text = rng.choice(COMMENT_TEXT)
            review = (not is_reply) and rng.random() < 0.1
            if review:
                text = " ".join([text] * 12)   # reviews are 200+ words
            comment = {"id": cid, "parent_id": rng.choice(parents) if is_reply else 0,
                       "created_at": iso(created), "updated_at": iso(created + rng.choice([0, 0, 0, 3600])),
                       "comment": text, "spoiler": rng.random() < 0.1, "review": review,
                       "replies": 0 if is_reply else rng.randint(0, 4), "likes": rng.randint(0, 25),
                       "language": "en", "user_rating": rng.choice([None, None, rng.randint(1, 10)]),
                       "user_stats": {"rating": None, "play_count": rng.randint(0, 3),
                                      "completed_count": rng.randint(0, 1)},
                       "user": me}
            if not is_reply:
                parents.append(cid)
            item = dict(media)
            item["comment"] = comment
            comments.append((created, item))
        comments.sort(key=lambda x: -x[0])
        self.comments = [x[1] for x in comments]

        lk = []
        for k in range(c["likes_comments"]):
            u = rng.choice(others)
            created = int(rand_ts())
            lk.append({"liked_at": iso(created + rng.randint(0, 90 * DAY)), "type": "comment",
                       "comment": {"id": 5_000_000 + k * 17, "parent_id": 0, "created_at": iso(created),
                                   "updated_at": iso(created), "comment": rng.choice(COMMENT_TEXT),
                                   "spoiler": False, "review": False, "replies": rng.randint(0, 9),
                                   "likes": rng.randint(1, 300), "user_rating": None,
                                   "user_stats": {"rating": None, "play_count": 1, "completed_count": 1},
                                   "user": u}})
        lk.sort(key=lambda x: x["liked_at"], reverse=True)
        self.likes_comments = lk
        self.likes_lists = sorted(({"liked_at": recent(), "type": "list", "list": self.render_list(l)}
                                   for l in self.liked_lists), key=lambda x: x["liked_at"], reverse=True)

        notes = []
        nid = rng.randint(1000, 50_000)
        for k in range(c["notes"]):
            nid += rng.randint(1, 200)
            r = rng.random()
            if r < 0.5:
                media = cat.media(MOVIE, rng.randrange(n_movies), 0, 0)
            elif r < 0.75:
                media = cat.media(SHOW, rng.randrange(n_shows), 0, 0)
            elif r < 0.85:
                sh = rng.randrange(n_shows)
                media = cat.media(SEASON, sh, rng.randint(1, cat.n_seasons(sh)), 0)
            else:
                sh = rng.randrange(n_shows)
                media = cat.media(EPISODE, sh, *random_episode(sh))
            created = int(rand_ts())
            notes.append((created, {"id": nid, "notes": rng.choice(NOTE_TEXT), "privacy": rng.choice(["private", "friends", "public"]),
                                    "spoiler": rng.random() < 0.1, "created_at": iso(created),
                                    "updated_at": iso(created + rng.choice([0, 60, 86400])), "item": media}))
        notes.sort(key=lambda x: -x[0])
        self.notes = [x[1] for x in notes]

        # ---- hidden
        self.hidden = {}
        for sec in HIDDEN_SECTIONS:
            items = []
            for k in range(c["hidden_" + sec]):
                t = recent()
                if sec == "comments":
                    items.append({"hidden_at": t, "type": "user", "user": rng.choice(others)})
                elif sec == "recommendations" and rng.random() < 0.5:
                    items.append(dict({"hidden_at": t}, **cat.media(MOVIE, rng.randrange(n_movies), 0, 0)))
                elif sec == "progress_watched" and rng.random() < 0.15:
                    sh = rng.randrange(n_shows)
                    items.append(dict({"hidden_at": t}, **cat.media(SEASON, sh, rng.randint(1, cat.n_seasons(sh)), 0)))
                else:
                    items.append(dict({"hidden_at": t}, **cat.media(SHOW, rng.randrange(n_shows), 0, 0)))
            items.sort(key=lambda x: x["hidden_at"], reverse=True)
            self.hidden[sec] = items

        # ---- saved filters
        self.saved_filters = {}
        fid = rng.randint(100, 900)
        paths = {"movies": ["/movies/trending", "/movies/recommended/weekly", "/movies/popular"],
                 "shows": ["/shows/trending", "/shows/watched/monthly", "/shows/anticipated"],
                 "calendars": ["/calendars/my/shows", "/calendars/all/movies"],
                 "search": ["/search/movie,show", "/search/person"]}
        for sec in SAVED_FILTER_SECTIONS:
            items = []
            for k in range(c["saved_filters"]):
                fid += 1
                items.append({"rank": k + 1, "id": fid, "section": sec,
                              "name": rng.choice(["Top picks", "Sci-fi 2000s", "Ünïcode filter", "Short & sweet"]),
                              "path": rng.choice(paths[sec]),
                              "query": rng.choice(["genres=action&years=2000-2020", "ratings=75-100",
                                                   "countries=fr,jp&runtimes=60-120", "query=star%20wars"]),
                              "updated_at": recent()})
            self.saved_filters[sec] = items

        # ---- last activities
        def latest(rows, col, pred=lambda r: True, default=None):
            best = None
            for r in rows:
                if pred(r) and (best is None or r[col] > best):
                    best = r[col]
            return float(best) if best is not None else float(default if default is not None else start)

        def rnd():
            return float(int(end - rng.random() * span / 4))

        def latest_iso(rows, key):
            return parse_iso(max(r[key] for r in rows)) if rows else rnd()

        h = self.history
        acts = {
            "movies": {"watched_at": latest(h, 1, lambda r: r[3] == MOVIE),
                       "collected_at": latest(self.collection_movies, 0),
                       "rated_at": latest(ratings, 0, lambda r: r[2] == MOVIE),
                       "watchlisted_at": latest(self.watchlist, 2, lambda r: r[3] == MOVIE),
                       "favorited_at": latest(self.favorites, 2, lambda r: r[3] == MOVIE),
                       "commented_at": rnd(), "paused_at": latest(pb, 2, lambda r: r[3] == MOVIE),
                       "hidden_at": rnd()},
            "episodes": {"watched_at": latest(h, 1, lambda r: r[3] == EPISODE),
                         "collected_at": latest(self.collection_shows, 0),
                         "rated_at": latest(ratings, 0, lambda r: r[2] == EPISODE),
                         "watchlisted_at": latest(self.watchlist, 2, lambda r: r[3] == EPISODE),
                         "commented_at": rnd(), "paused_at": latest(pb, 2, lambda r: r[3] == EPISODE)},
            "shows": {"rated_at": latest(ratings, 0, lambda r: r[2] == SHOW),
                      "watchlisted_at": latest(self.watchlist, 2, lambda r: r[3] == SHOW),
                      "favorited_at": latest(self.favorites, 2, lambda r: r[3] == SHOW),
                      "commented_at": rnd(), "hidden_at": latest_iso(self.hidden["progress_watched"], "hidden_at"),
                      "dropped_at": latest_iso(self.hidden["dropped"], "hidden_at")},
            "seasons": {"rated_at": latest(ratings, 0, lambda r: r[2] == SEASON),
                        "watchlisted_at": latest(self.watchlist, 2, lambda r: r[3] == SEASON),
                        "commented_at": rnd(), "hidden_at": rnd()},
            "comments": {"liked_at": latest_iso(self.likes_comments, "liked_at"), "reacted_at": rnd(),
                         "blocked_at": rnd()},
            "lists": {"liked_at": latest_iso(self.likes_lists, "liked_at"), "reacted_at": rnd(),
                      "updated_at": max([l["updated_at"] for l in self.lists] or [start]) * 1.0,
                      "commented_at": rnd()},
            "watchlist": {"updated_at": latest(self.watchlist, 2)},
            "favorites": {"updated_at": latest(self.favorites, 2)},
            "collaborations": {"updated_at": max([l["updated_at"] for l in self.collaborations] or [start]) * 1.0},
            "account": {"settings_at": rnd(), "followed_at": latest_iso(self.followers, "followed_at"),
                        "following_at": latest_iso(self.following, "followed_at"), "pending_at": rnd(),
                        "requested_at": latest_iso(self.requests, "requested_at")},
            "saved_filters": {"updated_at": rnd()},
            "notes": {"updated_at": latest_iso(self.notes, "updated_at")},
        }
        self.activities = acts
        self.activity_all = max(v for group in acts.values() for v in group.values())

    # ------------------------------------------------------------------ activities
    def bump(self, now, *fields):
        """Move some last_activities timestamps (and "all") strictly forward."""
        t = max(float(now), self.activity_all + 0.001)
        t = math.floor(t * 1000 + 0.5) / 1000.0
        if t <= self.activity_all:
            t = self.activity_all + 0.001
        for f in fields:
            group, key = f.split(".")
            self.activities[group][key] = t
        self.activity_all = t
        self.version += 1

    def render_activities(self):
        out = {"all": iso(self.activity_all)}
        for group, vals in self.activities.items():
            out[group] = {k: iso(v) for k, v in vals.items()}
        return out

    # ------------------------------------------------------------------ rendering
    def user_brief(self):
        return {"username": self.username, "private": self.private, "deleted": False, "name": self.name,
                "vip": self.vip, "vip_ep": False, "ids": {"slug": self.slug, "trakt": self.trakt_id}}

    def profile_obj(self, full=False):
        p = self.user_brief()
        if full:
            p.update({"joined_at": iso(self.joined_at), "location": "Lyon, France", "about": "Films & séries.",
                      "gender": None, "age": None,
                      "images": {"avatar": {"full": "https://walter-r2.trakt.tv/images/users/%s/avatars/large/%s.jpg"
                                                    % (self.trakt_id, self.uuid[:10])}},
                      "vip_og": False, "vip_years": 2 if self.vip else 0, "vip_cover_image": None})
        return p

    def settings_obj(self):
        u = self.profile_obj(full=True)
        u["ids"] = {"slug": self.slug, "uuid": self.uuid, "trakt": self.trakt_id}
        u["director"] = False
        limits = ({"list": {"count": 1000, "item_count": 5000}, "watchlist": {"item_count": 10000},
                   "favorites": {"item_count": 250}} if self.vip else
                  {"list": {"count": 2, "item_count": 100}, "watchlist": {"item_count": 100},
                   "favorites": {"item_count": 50}})
        return {
            "user": u,
            "account": {"timezone": "Europe/Paris", "date_format": "dmy", "time_24hr": True,
                        "cover_image": None, "display_ads": not self.vip, "token": None},
            "browsing": {"calendar": {"hide_specials": False, "autoscroll": True}, "comments": {"blocked_uids": []},
                         "display_early_ratings": False, "genres": {"favorites": ["drama"], "disliked": []},
                         "hide_episode_type_tags": False, "hide_unsaved_filters_prompt": False,
                         "hide_watching_now": False, "other_site_ratings": True, "locale": "fr-FR",
                         "profile": {"favorites": {"sort_by": "rank", "sort_how": "asc"},
                                     "most_watched_movies": {"sort_by": "plays", "tab": "all"},
                                     "most_watched_shows": {"sort_by": "plays", "tab": "all"}},
                         "progress": {"on_deck": {"sort_how": "desc", "refresh": True, "simple_progress": False,
                                                  "only_favorites": False, "sort": "activity"},
                                      "watched": {"refresh": True, "simple_progress": False, "include_specials": False,
                                                  "include_watchlisted": True, "include_collected": True,
                                                  "sort_how": "desc", "use_last_activity": True, "grid_view": False}},
                         "recommendations": {"ignore_collected": True, "ignore_watchlisted": True},
                         "release_date_ignore_runtime": False},
            "connections": {k: False for k in ("facebook", "twitter", "mastodon", "google", "tumblr", "medium",
                                               "slack", "apple", "dropbox", "microsoft")},
            "sharing_text": {"watching": "I'm watching [item]", "watched": "I just watched [item]",
                             "rated": "[item] [stars]"},
            "limits": limits,
            "permissions": {"commenting": True, "liking": True, "following": True},
        }

    def render_history(self, r):
        d = {"id": r[0], "watched_at": iso(r[1]), "action": ACTIONS[r[2]]}
        d.update(self.catalog.media(r[3], r[4], r[5], r[6]))
        return d

    def render_rating(self, r):
        d = {"rated_at": iso(r[0]), "rating": r[1]}
        d.update(self.catalog.media(r[2], r[3], r[4], r[5]))
        return d

    def render_listed(self, r):
        note = r[7]
        if not isinstance(note, str):
            note = NOTE_TEXT[note] if note is not None and note >= 0 else None
        d = {"rank": r[0], "id": r[1], "listed_at": iso(r[2]), "notes": note}
        d.update(self.catalog.media(r[3], r[4], r[5], r[6]))
        return d

    def render_playback(self, r):
        d = {"progress": r[1], "paused_at": iso(r[2]), "id": r[0]}
        d.update(self.catalog.media(r[3], r[4], r[5], r[6]))
        return d

    def render_coll_movie(self, r, metadata=False):
        d = {"collected_at": iso(r[0]), "updated_at": iso(r[1]), "movie": self.catalog.movie(r[2])}
        if metadata:
            m = r[3]
            d["metadata"] = {"media_type": ("bluray", "digital", "dvd", "vhs")[m % 4],
                             "resolution": ("hd_1080p", "uhd_4k", "hd_720p", "sd_480p")[(m >> 2) % 4],
                             "hdr": (None, "dolby_vision", "hdr10")[(m >> 4) % 3],
                             "audio": ("dolby_atmos", "dts", "aac", "dolby_digital_plus")[(m >> 6) % 4],
                             "audio_channels": ("7.1", "5.1", "2.0")[(m >> 8) % 3], "3d": m % 29 == 0}
        return d

    def collected_episodes(self, r):
        """(season, episode) pairs of a collection_shows record."""
        ts, i, what = r
        if isinstance(what, int):
            return [(s, e) for s in range(1, what + 1) for e in range(1, self.catalog.eps_in_season(i, s) + 1)]
        return sorted(what)

    def render_coll_show(self, r, metadata=False):
        ts, i, what = r
        cat = self.catalog
        by_season = {}
        for s, e in self.collected_episodes(r):
            by_season.setdefault(s, []).append(e)
        n_seasons = max(by_season) if by_season else 0
        seasons = []
        for s in sorted(by_season):
            eps = []
            for e in by_season[s]:
                ep = {"number": e, "collected_at": iso(ts - (n_seasons - s) * 86400 * 7 - (64 - e) * 60)}
                if metadata:
                    ep["metadata"] = {"media_type": "digital", "resolution": "hd_1080p", "hdr": None,
                                      "audio": "aac", "audio_channels": "2.0", "3d": False}
                eps.append(ep)
            seasons.append({"number": s, "episodes": eps})
        return {"last_collected_at": iso(ts), "last_updated_at": iso(ts), "show": cat.show(i), "seasons": seasons}

    def render_list(self, l):
        return {"name": l["name"], "description": l["description"], "privacy": l["privacy"],
                "share_link": "https://trakt.tv/lists/%d" % l["trakt"], "type": "personal",
                "display_numbers": l["display_numbers"], "allow_comments": l["allow_comments"],
                "sort_by": l["sort_by"], "sort_how": l["sort_how"], "created_at": iso(l["created_at"]),
                "updated_at": iso(l["updated_at"]), "item_count": len(l["items"]),
                "comment_count": l["comment_count"], "likes": l["likes"],
                "ids": {"trakt": l["trakt"], "slug": l["slug"]}, "user": l["owner"]}

    # ------------------------------------------------------------------ watched (derived from history)
    def watched(self):
        if self._watched_cache is not None and self._watched_cache[0] == self.version:
            return self._watched_cache[1], self._watched_cache[2]
        movies, shows = {}, {}
        for hid, ts, _a, kind, a, s, e in self.history:   # newest first
            if kind == MOVIE:
                m = movies.get(a)
                if m is None:
                    movies[a] = [1, ts]
                else:
                    m[0] += 1
            else:
                sh = shows.get(a)
                if sh is None:
                    sh = shows[a] = [0, ts, {}]
                sh[0] += 1
                ep = sh[2].get((s, e))
                if ep is None:
                    sh[2][(s, e)] = [1, ts]
                else:
                    ep[0] += 1
        wm = sorted(((i, v[0], v[1]) for i, v in movies.items()), key=lambda x: -x[2])
        ws = sorted(((i, v[0], v[1], v[2]) for i, v in shows.items()), key=lambda x: -x[2])
        self._watched_cache = (self.version, wm, ws)
        return wm, ws

    def render_watched_movie(self, r):
        return {"plays": r[1], "last_watched_at": iso(r[2]), "last_updated_at": iso(r[2]),
                "movie": self.catalog.movie(r[0])}

    def render_watched_show(self, r, progress=False, specials=False):
        d = {"plays": r[1], "last_watched_at": iso(r[2]), "last_updated_at": iso(r[2]), "reset_at": None,
             "show": self.catalog.show(r[0])}
        if progress:
            seasons = {}
            for (s, e), (plays, ts) in r[3].items():
                if s == 0 and not specials:
                    continue
                seasons.setdefault(s, []).append({"number": e, "plays": plays, "last_watched_at": iso(ts)})
            d["seasons"] = [{"number": s, "episodes": sorted(eps, key=lambda x: x["number"])}
                            for s, eps in sorted(seasons.items())]
        return d

    def stats_obj(self):
        wm, ws = self.watched()
        cat = self.catalog
        movie_plays = sum(r[1] for r in wm)
        ep_plays = sum(r[1] for r in ws)
        dist = {str(k): 0 for k in range(1, 11)}
        for r in self.ratings:
            dist[str(r[1])] += 1
        count = {k: 0 for k in range(4)}
        for r in self.ratings:
            count[r[2]] += 1
        comments = {"movie": 0, "show": 0, "season": 0, "episode": 0, "list": 0}
        for c in self.comments:
            comments[c["type"]] += 1
        return {
            "movies": {"plays": movie_plays, "watched": len(wm),
                       "minutes": sum(cat.movies[r[0]][6] * r[1] for r in wm),
                       "collected": len(self.collection_movies), "ratings": count[MOVIE],
                       "comments": comments["movie"]},
            "shows": {"watched": len(ws), "collected": len(self.collection_shows), "ratings": count[SHOW],
                      "comments": comments["show"]},
            "seasons": {"ratings": count[SEASON], "comments": comments["season"]},
            "episodes": {"plays": ep_plays, "watched": sum(len(r[3]) for r in ws),
                         "minutes": sum(cat.shows[r[0]][10] * r[1] for r in ws),
                         "collected": sum(len(self.collected_episodes(r)) for r in self.collection_shows),
                         "ratings": count[EPISODE], "comments": comments["episode"]},
            "network": {"friends": len(self.friends), "followers": len(self.followers),
                        "following": len(self.following)},
            "ratings": {"total": len(self.ratings), "distribution": dist},
        }

    # ------------------------------------------------------------------ mutations
    def add_plays(self, n, now):
        """n new plays, newest first, all at or after the newest existing play."""
        rng = self.rng
        cat = self.catalog
        wm, ws = self.watched()
        newest = self.history[0][1] if self.history else 0
        added_eps = set()
        plays = []
        for k in range(n):
            ts = max(int(now) - k, newest)
            if (rng.random() < 0.3 or not ws) and cat.movies:
                a = rng.choice(wm)[0] if wm and rng.random() < 0.3 else rng.randrange(len(cat.movies))
                plays.append((ts, MOVIE, a, 0, 0))
                continue
            if ws and rng.random() < 0.8:
                sh = rng.choice(ws)
                i, seen = sh[0], sh[3]
                nxt = next((se for se in cat.iter_episodes(i)
                            if se not in seen and (i,) + se not in added_eps), (1, 1))
            else:
                i = rng.randrange(len(cat.shows))
                nxt = (1, 1)
            added_eps.add((i,) + nxt)
            plays.append((ts, EPISODE, i) + nxt)
        # plays[0] is the newest and gets the biggest id
        base = self.next_history_id
        new = [(base + n - 1 - k, p[0], 0) + p[1:] for k, p in enumerate(plays)]
        self.next_history_id = base + n
        self.history[0:0] = new
        fields = sorted({"movies.watched_at" if p[1] == MOVIE else "episodes.watched_at" for p in plays})
        if fields:
            self.bump(now, *fields)
        return [self.render_history(r) for r in new]

    def insert_history(self, recs, now):
        """Insert (ts, kind, a, s, e) plays at their place (history stays newest first)."""
        kinds = set()
        for ts, kind, a, s, e in recs:
            rec = (self.next_history_id, int(ts), 2, kind, a, s, e)
            self.next_history_id += 1
            pos = bisect.bisect_left(self.history, -rec[1], key=lambda r: -r[1])
            self.history.insert(pos, rec)
            kinds.add(kind)
        fields = [("movies.watched_at" if k == MOVIE else "episodes.watched_at") for k in kinds]
        if fields:
            self.bump(now, *fields)

    def remove_history(self, pred, now):
        kept, removed = [], []
        for r in self.history:
            (removed if pred(r) else kept).append(r)
        if removed:
            self.history = kept
            kinds = {r[3] for r in removed}
            self.bump(now, *[("movies.watched_at" if k == MOVIE else "episodes.watched_at") for k in kinds])
        return removed

    # ------------------------------------------------------------------ list lookup
    def find_list(self, list_id, owner_slug=None):
        """A list of this user, or (owner_slug given) one they collaborate on owned by that slug."""
        if owner_slug is None:
            candidates = self.lists
        else:
            candidates = [l for l in self.collaborations if l["owner"]["ids"]["slug"] == owner_slug]
        key = str(list_id)
        for l in candidates:
            if (key.isdigit() and l["trakt"] == int(key)) or l["slug"] == key.lower():
                return l
        return None


# =========================================================================== read views


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

    def __init__(self, seq, render, default_limit=100, max_limit=250, lo=0, hi=None, optional=False,
                 headers=None):
        self.seq = seq
        self.lo = lo
        self.hi = len(seq) if hi is None else hi
        self.render = render
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.optional = optional
        self.headers = headers or {}

    def all(self):
        return [self.render(r) for r in self.seq[self.lo:self.hi]]


def _int(value, default):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


MAX_LIMIT = 250


def page_of(p, query):
    """Apply ?page/&limit to a Paged -> (items, headers)."""
    if p.optional and "page" not in query and "limit" not in query:
        return p.all(), dict(p.headers)
    page = max(1, _int(query.get("page"), 1))
    limit = _int(query.get("limit"), p.default_limit)
    if limit < 1:
        limit = p.default_limit
    limit = min(limit, p.max_limit)
    total = p.hi - p.lo
    pages = (total + limit - 1) // limit
    start = p.lo + (page - 1) * limit
    stop = min(p.hi, start + limit)
    items = [p.render(r) for r in p.seq[start:stop]] if start < p.hi else []
    headers = dict(p.headers)
    headers.update({"X-Pagination-Page": str(page), "X-Pagination-Limit": str(limit),
                    "X-Pagination-Page-Count": str(pages), "X-Pagination-Item-Count": str(total)})
    return items, headers


def _ext(query):
    return {x.strip() for x in query.get("extended", "").split(",") if x.strip()}


def _time_filter(query):
    out = []
    for key in ("start_at", "end_at"):
        v = query.get(key)
        if v:
            try:
                out.append(parse_iso(v))
            except ValueError:
                raise BadRequest("%s is not a valid ISO 8601 date" % key)
        else:
            out.append(None)
    return out


TYPE_KINDS = {"movie": MOVIE, "movies": MOVIE, "show": SHOW, "shows": SHOW, "season": SEASON,
              "seasons": SEASON, "episode": EPISODE, "episodes": EPISODE}


def _kinds(type_segment, allowed=(MOVIE, SHOW, SEASON, EPISODE)):
    if type_segment in (None, "", "all", "media"):
        return set(allowed)
    kinds = set()
    for part in type_segment.split(","):
        k = TYPE_KINDS.get(part.strip())
        if k is None or k not in allowed:
            raise NotFound("unknown type %r" % part)
        kinds.add(k)
    return kinds


def _sort_listed(records, sort_by, sort_how, ud):
    sort_by = sort_by or "rank"
    sort_how = sort_how or "asc"
    if sort_by == "added":
        out = sorted(records, key=lambda r: r[2])
    elif sort_by == "title":
        def title(r):
            return (ud.catalog.movies[r[4]][2] if r[3] == MOVIE else ud.catalog.shows[r[4]][2]).lower()
        out = sorted(records, key=title)
    else:
        sort_by = "rank"
        out = sorted(records, key=lambda r: r[0])
    if sort_how == "desc":
        out.reverse()
    else:
        sort_how = "asc"
    return out, {"X-Sort-By": "rank", "X-Sort-How": "asc", "X-Applied-Sort-By": sort_by,
                 "X-Applied-Sort-How": sort_how}


def _history_view(ud, rest, query):
    start_at, end_at = _time_filter(query)
    h = ud.history
    if not rest:
        lo, hi = 0, len(h)
        if end_at is not None:
            lo = bisect.bisect_left(h, -end_at, key=lambda r: -r[1])
        if start_at is not None:
            hi = bisect.bisect_right(h, -start_at, key=lambda r: -r[1])
        return Paged(h, ud.render_history, lo=lo, hi=max(lo, hi))
    typ = rest[0]
    if typ not in ("movies", "shows", "seasons", "episodes") or len(rest) > 2:
        raise NotFound("unknown history type")
    kind = MOVIE if typ == "movies" else EPISODE
    item = None
    if len(rest) == 2:
        item = _int(rest[1], None)
        if item is None:
            raise NotFound("bad id")
    cat = ud.catalog

    def keep(r):
        if r[3] != kind:
            return False
        if start_at is not None and r[1] < start_at:
            return False
        if end_at is not None and r[1] > end_at:
            return False
        if item is None:
            return True
        if typ == "movies":
            return cat.movies[r[4]][0] == item
        if typ == "shows":
            return cat.shows[r[4]][0] == item
        if typ == "seasons":
            return cat.season_id(r[4], r[5]) == item
        return cat.episode_id(r[4], r[5], r[6]) == item
    return Paged([r for r in h if keep(r)], ud.render_history)


def _watched_view(ud, rest, query):
    if len(rest) != 1 or rest[0] not in ("movies", "shows"):
        raise NotFound("unknown watched type")
    wm, ws = ud.watched()
    if rest[0] == "movies":
        return Paged(wm, ud.render_watched_movie)
    ext = _ext(query)
    progress = "progress" in ext
    specials = query.get("specials") == "true"
    return Paged(ws, lambda r: ud.render_watched_show(r, progress, specials),
                 max_limit=100 if progress else MAX_LIMIT)


def _collection_view(ud, rest, query):
    if len(rest) != 1 or rest[0] not in ("movies", "shows"):
        raise NotFound("unknown collection type")
    meta = "metadata" in _ext(query)
    if rest[0] == "movies":
        return Paged(ud.collection_movies, lambda r: ud.render_coll_movie(r, meta))
    return Paged(ud.collection_shows, lambda r: ud.render_coll_show(r, meta))


def _ratings_view(ud, rest, query):
    if len(rest) > 2:
        raise NotFound("bad ratings path")
    kinds = _kinds(rest[0] if rest else None)
    wanted = None
    if len(rest) == 2 and rest[1]:
        try:
            wanted = {int(x) for x in rest[1].split(",")}
        except ValueError:
            raise NotFound("bad rating filter")
    if kinds == {MOVIE, SHOW, SEASON, EPISODE} and wanted is None:
        seq = ud.ratings
    else:
        seq = [r for r in ud.ratings if r[2] in kinds and (wanted is None or r[1] in wanted)]
    return Paged(seq, ud.render_rating)


def _listed_view(ud, records, rest, allowed):
    if len(rest) > 3:
        raise NotFound("bad path")
    kinds = _kinds(rest[0] if rest else None, allowed)
    seq = [r for r in records if r[3] in kinds]
    sort_by = rest[1] if len(rest) > 1 else None
    sort_how = rest[2] if len(rest) > 2 else None
    seq, headers = _sort_listed(seq, sort_by, sort_how, ud)
    return Paged(seq, ud.render_listed, headers=headers)


def _playback_view(ud, rest, query):
    if len(rest) > 1:
        raise NotFound("bad playback path")
    kinds = {MOVIE, EPISODE} if not rest else _kinds(rest[0], (MOVIE, EPISODE))
    seq = [r for r in ud.playback if r[3] in kinds]
    return Paged(seq, ud.render_playback, optional=True)


def _comments_view(ud, rest, query):
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

    def keep(c):
        cm = c["comment"]
        if ctype == "reviews" and not cm["review"]:
            return False
        if ctype == "shouts" and cm["review"]:
            return False
        if types[mtype] and c["type"] != types[mtype]:
            return False
        if replies == "only":
            return cm["parent_id"] != 0
        if replies != "true" and cm["parent_id"] != 0:
            return False
        return True
    return Paged([c for c in ud.comments if keep(c)], lambda x: x, default_limit=10)


def _likes_view(ud, rest):
    if len(rest) > 1:
        raise NotFound("bad likes path")
    typ = rest[0] if rest else "all"
    if typ == "comments":
        seq = ud.likes_comments
    elif typ == "lists":
        seq = ud.likes_lists
    elif typ == "all":
        seq = sorted(ud.likes_comments + ud.likes_lists, key=lambda x: x["liked_at"], reverse=True)
    else:
        raise NotFound("bad likes type")
    return Paged(seq, lambda x: x)


def _notes_view(ud, rest):
    if len(rest) > 1:
        raise NotFound("bad notes path")
    typ = rest[0] if rest else "all"
    types = {"all": None, "movies": "movie", "shows": "show", "seasons": "season", "episodes": "episode"}
    if typ not in types:
        raise NotFound("bad notes type")
    seq = ud.notes if types[typ] is None else [n for n in ud.notes if n["item"]["type"] == types[typ]]
    return Paged(seq, lambda x: x)


def _list_view(ud, lst, rest):
    if not rest:
        return Obj(ud.render_list(lst))
    if rest[0] != "items" or len(rest) > 4:
        raise NotFound("bad list path")
    return _listed_view(ud, lst["items"], rest[1:], (MOVIE, SHOW, SEASON, EPISODE))


def _user_view(ud, rest, query):
    if not rest:
        return Obj(ud.profile_obj(full="full" in _ext(query)))
    head, tail = rest[0], rest[1:]
    if head == "stats" and not tail:
        return Obj(ud.stats_obj())
    if head == "history":
        return _history_view(ud, tail, query)
    if head == "watched":
        return _watched_view(ud, tail, query)
    if head == "collection":
        return _collection_view(ud, tail, query)
    if head == "ratings":
        return _ratings_view(ud, tail, query)
    if head == "watchlist":
        return _listed_view(ud, ud.watchlist, tail, (MOVIE, SHOW, SEASON, EPISODE))
    if head == "favorites":
        return _listed_view(ud, ud.favorites, tail, (MOVIE, SHOW))
    if head == "lists":
        if not tail:
            return Obj([ud.render_list(l) for l in ud.lists])
        if tail == ["collaborations"]:
            return Obj([ud.render_list(l) for l in ud.collaborations])
        lst = ud.find_list(tail[0])
        if lst is None:
            raise NotFound("list not found")
        return _list_view(ud, lst, tail[1:])
    if head == "comments":
        return _comments_view(ud, tail, query)
    if head == "likes":
        return _likes_view(ud, tail)
    if head == "notes":
        return _notes_view(ud, tail)
    if head in ("followers", "following", "friends") and not tail:
        return Obj(getattr(ud, head))
    if head == "watching" and not tail:
        return Obj(None, status=204)
    raise NotFound("unknown endpoint")


def resolve_get(ud, path, query):
    """GET `path` (raw, percent-encoded, no query string) for user `ud` -> Obj | Paged.

    Raises NotFound, VipOnly or BadRequest.  Callers hold the state lock."""
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if not parts or not parts[0]:
        raise NotFound("unknown endpoint")
    head = parts[0]
    if head == "sync" and len(parts) >= 2:
        sub, rest = parts[1], parts[2:]
        if sub == "last_activities" and not rest:
            return Obj(ud.render_activities())
        if sub == "history":
            return _history_view(ud, rest, query)
        if sub == "watched":
            return _watched_view(ud, rest, query)
        if sub == "collection":
            return _collection_view(ud, rest, query)
        if sub == "ratings":
            return _ratings_view(ud, rest, query)
        if sub == "watchlist":
            return _listed_view(ud, ud.watchlist, rest, (MOVIE, SHOW, SEASON, EPISODE))
        if sub == "favorites":
            return _listed_view(ud, ud.favorites, rest, (MOVIE, SHOW))
        if sub == "playback":
            return _playback_view(ud, rest, query)
        raise NotFound("unknown endpoint")
    if head == "users" and len(parts) >= 2:
        sub, rest = parts[1], parts[2:]
        if sub == "settings" and not rest:
            return Obj(ud.settings_obj())
        if sub == "hidden" and len(rest) == 1:
            if rest[0] not in HIDDEN_SECTIONS:
                raise NotFound("unknown hidden section")
            items = ud.hidden[rest[0]]
            if query.get("type"):
                items = [x for x in items if x["type"] == query["type"]]
            return Paged(items, lambda x: x)
        if sub == "requests" and not rest:
            return Obj(ud.requests)
        if sub == "requests" and rest == ["following"]:
            return Obj(ud.requests_following)
        if sub == "blocked" and not rest:
            return Obj(ud.blocked)
        if sub == "saved_filters" and len(rest) == 1:
            if rest[0] not in SAVED_FILTER_SECTIONS:
                raise NotFound("unknown saved filter section")
            if not ud.vip:
                raise VipOnly("saved filters are a VIP feature")
            return Paged(ud.saved_filters[rest[0]], lambda x: x)
        if sub == "likes":
            return _likes_view(ud, rest)
        if sub.lower() in ("me", ud.slug):
            return _user_view(ud, rest, query)
        # lists of another user that this user collaborates on
        if len(rest) >= 2 and rest[0] == "lists":
            lst = ud.find_list(rest[1], owner_slug=sub.lower())
            if lst is not None:
                return _list_view(ud, lst, rest[2:])
        raise NotFound("user not found")
    raise NotFound("unknown endpoint")


def full_data(ud):
    """Every endpoint -> its full JSON value (all pages), exactly as resolve_get serves it.

    Keys are plain paths; where trakt has richer variants the plain key holds what a complete
    backup fetches (the README's recommended parameters):
      /users/me                    ?extended=full
      /sync/watched/shows          ?extended=progress&specials=true
      /sync/collection/{movies,shows} ?extended=metadata
      /users/me/comments/all/all   ?include_replies=true
    Keys spelled with their query string are also present, plus a few leaner variants
    ("/users/me?extended=min" style keys below)."""
    out = {}

    def put(key, path, query=None):
        r = resolve_get(ud, path, query or {})
        out[key] = r.value if isinstance(r, Obj) else r.all()

    plain = ("/users/settings", "/users/me/stats", "/sync/last_activities", "/sync/history",
             "/sync/watched/movies", "/sync/ratings/movies", "/sync/ratings/shows", "/sync/ratings/seasons",
             "/sync/ratings/episodes", "/sync/ratings", "/sync/watchlist", "/sync/favorites", "/sync/playback", "/users/me/lists",
             "/users/me/lists/collaborations", "/users/me/likes/comments", "/users/me/likes/lists",
             "/users/me/notes/all", "/users/me/followers", "/users/me/following", "/users/me/friends",
             "/users/requests", "/users/blocked")
    for p in plain:
        put(p, p)
    rich = (("/users/me", {"extended": "full"}, "extended=full"),
            ("/sync/watched/shows", {"extended": "progress", "specials": "true"}, "extended=progress&specials=true"),
            ("/sync/collection/movies", {"extended": "metadata"}, "extended=metadata"),
            ("/sync/collection/shows", {"extended": "metadata"}, "extended=metadata"),
            ("/users/me/comments/all/all", {"include_replies": "true"}, "include_replies=true"))
    for p, q, qs in rich:
        put(p, p, q)
        out[p + "?" + qs] = out[p]
    # leaner variants, for clients that do not ask for the extras
    put("/sync/watched/shows?extended=progress", "/sync/watched/shows", {"extended": "progress"})
    put("/sync/watched/shows?extended=min", "/sync/watched/shows", {})
    put("/sync/collection/movies?extended=min", "/sync/collection/movies", {})
    put("/sync/collection/shows?extended=min", "/sync/collection/shows", {})
    put("/users/me?extended=min", "/users/me", {})
    put("/users/me/comments/all/all?include_replies=false", "/users/me/comments/all/all", {})
    for sec in HIDDEN_SECTIONS:
        put("/users/hidden/" + sec, "/users/hidden/" + sec)
    for l in ud.lists:
        put("/users/me/lists/%d/items" % l["trakt"], "/users/me/lists/%d/items" % l["trakt"])
    for l in ud.collaborations:
        p = "/users/%s/lists/%d/items" % (l["owner"]["ids"]["slug"], l["trakt"])
        put(p, p)
    if ud.vip:
        for sec in SAVED_FILTER_SECTIONS:
            put("/users/saved_filters/" + sec, "/users/saved_filters/" + sec)
    return out


# =========================================================================== writes

def _not_found_block():
    return {"movies": [], "shows": [], "seasons": [], "episodes": [], "people": []}


def _expand(ud, body):
    """Resolve a sync body -> ([(kind, a, b, c, src, parents, leaf)], not_found)."""
    if not isinstance(body, dict):
        raise BadRequest("a JSON object is expected")
    cat = ud.catalog
    out, nf = [], _not_found_block()
    for m in body.get("movies") or []:
        i = cat.find_movie((m or {}).get("ids")) if isinstance(m, dict) else None
        if i is None:
            nf["movies"].append(m)
        else:
            out.append((MOVIE, i, 0, 0, m, (), True))
    for sh in body.get("shows") or []:
        i = cat.find_show((sh or {}).get("ids")) if isinstance(sh, dict) else None
        if i is None:
            nf["shows"].append(sh)
            continue
        seasons = sh.get("seasons")
        out.append((SHOW, i, 0, 0, sh, (), not seasons))
        for se in seasons or []:
            n = se.get("number") if isinstance(se, dict) else None
            if not isinstance(n, int) or (n != 0 and cat.eps_in_season(i, n) == 0) or \
                    (n == 0 and cat.eps_in_season(i, 0) == 0):
                nf["seasons"].append(se)
                continue
            episodes = se.get("episodes")
            out.append((SEASON, i, n, 0, se, (sh,), not episodes))
            for ep in episodes or []:
                e = ep.get("number") if isinstance(ep, dict) else None
                if not isinstance(e, int) or e < 1 or e > cat.eps_in_season(i, n):
                    nf["episodes"].append(ep)
                    continue
                out.append((EPISODE, i, n, e, ep, (se, sh), True))
    for se in body.get("seasons") or []:
        ids = (se or {}).get("ids") if isinstance(se, dict) else None
        dec = cat.decode_season_id(_int((ids or {}).get("trakt"), -1))
        if dec is None:
            nf["seasons"].append(se)
        else:
            out.append((SEASON, dec[0], dec[1], 0, se, (), True))
    for ep in body.get("episodes") or []:
        ids = (ep or {}).get("ids") if isinstance(ep, dict) else None
        dec = cat.decode_episode_id(_int((ids or {}).get("trakt"), -1))
        if dec is None:
            nf["episodes"].append(ep)
        else:
            out.append((EPISODE,) + dec + (ep, (), True))
    return out, nf


def _inherit(key, src, parents, body):
    for d in (src,) + tuple(parents) + (body,):
        if isinstance(d, dict) and d.get(key) is not None:
            return d[key]
    return None


def _when(value, now, ud=None, kind=None, a=None):
    if value in (None, "", "now"):
        return now
    if value == "released":
        if kind == MOVIE and ud is not None and ud.catalog.movies[a][3]:
            return float(calendar.timegm((ud.catalog.movies[a][3], 1, 1, 0, 0, 0)))
        return now
    try:
        return parse_iso(str(value))
    except ValueError:
        raise BadRequest("invalid date %r" % (value,))


def _episodes_of(ud, kind, a, b, c):
    cat = ud.catalog
    if kind == EPISODE:
        return [(b, c)]
    if kind == SEASON:
        return [(b, e) for e in range(1, cat.eps_in_season(a, b) + 1)]
    return list(cat.iter_episodes(a))


def _count_block(counts):
    return {"movies": counts.get(MOVIE, 0), "shows": counts.get(SHOW, 0), "seasons": counts.get(SEASON, 0),
            "episodes": counts.get(EPISODE, 0)}


def _write_history(ud, body, now, remove):
    found, nf = _expand(ud, body)
    counts = {}
    if remove:
        ids = set()
        for x in (body.get("ids") or []):
            v = _int(x, None)
            if v is not None:
                ids.add(v)
        targets = set()
        for kind, a, b, c, src, parents, leaf in found:
            if not leaf:
                continue
            if kind == MOVIE:
                targets.add((MOVIE, a, 0, 0))
            else:
                for s, e in _episodes_of(ud, kind, a, b, c):
                    targets.add((EPISODE, a, s, e))
        removed = ud.remove_history(lambda r: r[0] in ids or (r[3], r[4], r[5], r[6]) in targets, now)
        present = {r[0] for r in removed}
        for r in removed:
            counts[r[3]] = counts.get(r[3], 0) + 1
        nf["ids"] = [x for x in (body.get("ids") or []) if _int(x, None) not in present]
        return 200, {"deleted": {"movies": counts.get(MOVIE, 0), "episodes": counts.get(EPISODE, 0)},
                     "not_found": nf}
    recs = []
    for kind, a, b, c, src, parents, leaf in found:
        if not leaf:
            continue
        ts = _when(_inherit("watched_at", src, parents, None), now, ud, kind, a)
        if kind == MOVIE:
            recs.append((ts, MOVIE, a, 0, 0))
        else:
            for s, e in _episodes_of(ud, kind, a, b, c):
                recs.append((ts, EPISODE, a, s, e))
    for r in recs:
        counts[r[1]] = counts.get(r[1], 0) + 1
    ud.insert_history(recs, now)
    return 201, {"added": {"movies": counts.get(MOVIE, 0), "episodes": counts.get(EPISODE, 0)}, "not_found": nf}


def _write_ratings(ud, body, now, remove):
    found, nf = _expand(ud, body)
    counts = {}
    kinds = set()
    index = {(r[2], r[3], r[4], r[5]): n for n, r in enumerate(ud.ratings)}
    drop = set()
    for kind, a, b, c, src, parents, leaf in found:
        key = (kind, a, b, c)
        if remove:
            if not leaf:
                continue
            if key in index:
                drop.add(index[key])
                counts[kind] = counts.get(kind, 0) + 1
                kinds.add(kind)
            continue
        rating = src.get("rating") if isinstance(src, dict) else None
        if rating is None:
            continue
        if not isinstance(rating, int) or not 1 <= rating <= 10:
            nf[KIND_NAMES[kind] + "s"].append(src)
            continue
        ts = _when(src.get("rated_at"), now)
        if key in index:
            drop.add(index[key])
        ud.ratings.append((int(ts), rating, kind, a, b, c))
        counts[kind] = counts.get(kind, 0) + 1
        kinds.add(kind)
    if drop:
        ud.ratings = [r for n, r in enumerate(ud.ratings) if n not in drop]
    ud.ratings.sort(key=lambda r: -r[0])
    if kinds:
        ud.bump(now, *["%ss.rated_at" % KIND_NAMES[k] for k in kinds])
    return (200, {"deleted": _count_block(counts), "not_found": nf}) if remove else \
        (201, {"added": _count_block(counts), "not_found": nf})


def _write_listed(ud, records, body, now, remove, allowed, limit, activity):
    """Add to / remove from a ranked collection (watchlist, favorites, a list). Returns (status, json, records)."""
    found, nf = _expand(ud, body)
    present = {(r[3], r[4], r[5], r[6]): r for r in records}
    counts, existing = {}, {}
    kinds = set()
    for kind, a, b, c, src, parents, leaf in found:
        if not leaf:
            continue
        if kind not in allowed:
            nf[KIND_NAMES[kind] + "s"].append(src)
            continue
        key = (kind, a, b, c)
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
        ud.next_listed_id += 1
        note = src.get("notes") if isinstance(src, dict) else None
        rec = (0, ud.next_listed_id, int(_when(src.get("listed_at") if isinstance(src, dict) else None, now)),
               kind, a, b, c, note if isinstance(note, str) else None)
        present[key] = rec
        counts[kind] = counts.get(kind, 0) + 1
        kinds.add(kind)
    ordered = sorted(present.values(), key=lambda r: (r[0] == 0, r[0], r[1]))
    new_records = [(n + 1,) + r[1:] for n, r in enumerate(ordered)]
    if kinds:
        ud.bump(now, *activity(kinds))
    result = {("deleted" if remove else "added"): _count_block(counts), "not_found": nf}
    if not remove:
        result["existing"] = _count_block(existing)
    result["list"] = {"updated_at": iso(ud.activity_all), "item_count": len(new_records)}
    return (200 if remove else 201), result, new_records


def _write_collection(ud, body, now, remove):
    found, nf = _expand(ud, body)
    counts = {}
    movies = {r[2]: r for r in ud.collection_movies}
    shows = {r[1]: r for r in ud.collection_shows}
    for kind, a, b, c, src, parents, leaf in found:
        if not leaf:
            continue
        ts = int(_when(_inherit("collected_at", src, parents, None), now))
        if kind == MOVIE:
            if remove:
                if movies.pop(a, None) is not None:
                    counts[MOVIE] = counts.get(MOVIE, 0) + 1
            elif a not in movies:
                movies[a] = (ts, ts, a, 0)
                counts[MOVIE] = counts.get(MOVIE, 0) + 1
            continue
        eps = set(_episodes_of(ud, kind, a, b, c))
        cur = shows.get(a)
        have = set(ud.collected_episodes(cur)) if cur else set()
        if remove:
            left = have - eps
            counts[EPISODE] = counts.get(EPISODE, 0) + len(have & eps)
            if cur is not None:
                if left:
                    shows[a] = (cur[0], a, frozenset(left))
                else:
                    del shows[a]
        else:
            added = eps - have
            counts[EPISODE] = counts.get(EPISODE, 0) + len(added)
            if added:
                shows[a] = (max(ts, cur[0]) if cur else ts, a, frozenset(have | eps))
    ud.collection_movies = sorted(movies.values(), key=lambda r: -r[0])
    ud.collection_shows = sorted(shows.values(), key=lambda r: -r[0])
    fields = []
    if counts.get(MOVIE):
        fields.append("movies.collected_at")
    if counts.get(EPISODE):
        fields.append("episodes.collected_at")
    if fields:
        ud.bump(now, *fields)
    block = {"movies": counts.get(MOVIE, 0), "episodes": counts.get(EPISODE, 0)}
    return (200, {"deleted": block, "not_found": nf}) if remove else (201, {"added": block, "not_found": nf})


def _list_limits(ud):
    return (None, None) if ud.vip else (2, 100)


def apply_write(ud, method, path, body, now):
    """POST/PUT/DELETE for user `ud` -> (status, json value).  Raises NotFound/BadRequest/LimitExceeded."""
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if not isinstance(body, dict):
        raise BadRequest("a JSON object is expected")
    if method == "POST" and parts[0] == "sync" and len(parts) in (2, 3):
        what = parts[1]
        remove = len(parts) == 3
        if remove and parts[2] != "remove":
            raise NotFound("unknown endpoint")
        if what == "history":
            return _write_history(ud, body, now, remove)
        if what == "ratings":
            return _write_ratings(ud, body, now, remove)
        if what == "collection":
            return _write_collection(ud, body, now, remove)
        if what == "watchlist":
            limit = None if ud.vip else 100
            status, res, ud.watchlist = _write_listed(
                ud, ud.watchlist, body, now, remove, (MOVIE, SHOW, SEASON, EPISODE), None if remove else limit,
                lambda ks: ["%ss.watchlisted_at" % KIND_NAMES[k] for k in ks] + ["watchlist.updated_at"])
            return status, res
        if what == "favorites":
            limit = None if ud.vip else 50
            status, res, ud.favorites = _write_listed(
                ud, ud.favorites, body, now, remove, (MOVIE, SHOW), None if remove else limit,
                lambda ks: ["%ss.favorited_at" % KIND_NAMES[k] for k in ks] + ["favorites.updated_at"])
            return status, res
    if method == "DELETE" and parts[:2] == ["sync", "playback"] and len(parts) == 3:
        pid = _int(parts[2], None)
        before = len(ud.playback)
        ud.playback = [r for r in ud.playback if r[0] != pid]
        if len(ud.playback) == before:
            raise NotFound("playback item not found")
        ud.bump(now, "movies.paused_at", "episodes.paused_at")
        return 204, None
    if len(parts) >= 3 and parts[0] == "users" and parts[1].lower() in ("me", ud.slug) and parts[2] == "lists":
        rest = parts[3:]
        max_lists, max_items = _list_limits(ud)
        if not rest and method == "POST":
            if max_lists is not None and len(ud.lists) >= max_lists:
                raise LimitExceeded("account limit exceeded: %d lists" % max_lists, max_lists)
            name = body.get("name")
            if not isinstance(name, str) or not name.strip():
                raise BadRequest("name is required")
            base = slugify(name, "list")
            slug, k = base, 2
            while any(l["slug"] == slug for l in ud.lists):
                slug, k = "%s-%d" % (base, k), k + 1
            trakt = max([l["trakt"] for l in ud.lists + ud.collaborations + ud.liked_lists] + [40_000_000]) + 1
            lst = {"trakt": trakt, "slug": slug, "name": name, "description": body.get("description"),
                   "privacy": body.get("privacy", "private"), "display_numbers": bool(body.get("display_numbers")),
                   "allow_comments": body.get("allow_comments", True), "sort_by": body.get("sort_by", "rank"),
                   "sort_how": body.get("sort_how", "asc"), "created_at": now, "updated_at": now, "likes": 0,
                   "comment_count": 0, "owner": ud.user_brief(), "items": []}
            ud.lists.append(lst)
            ud.bump(now, "lists.updated_at")
            return 201, ud.render_list(lst)
        if not rest:
            raise NotFound("unknown endpoint")
        lst = ud.find_list(rest[0])
        if lst is None:
            raise NotFound("list not found")
        tail = rest[1:]
        if not tail and method == "PUT":
            for key in ("name", "description", "privacy", "display_numbers", "allow_comments", "sort_by",
                        "sort_how"):
                if key in body:
                    lst[key] = body[key]
            lst["updated_at"] = now
            ud.bump(now, "lists.updated_at")
            return 200, ud.render_list(lst)
        if not tail and method == "DELETE":
            ud.lists.remove(lst)
            ud.bump(now, "lists.updated_at")
            return 204, None
        if method == "POST" and tail in (["items"], ["items", "remove"]):
            remove = len(tail) == 2
            status, res, lst["items"] = _write_listed(ud, lst["items"], body, now, remove,
                                                     (MOVIE, SHOW, SEASON, EPISODE), None if remove else max_items,
                                                     lambda ks: ["lists.updated_at"])
            lst["updated_at"] = ud.activity_all
            res["list"] = {"updated_at": iso(lst["updated_at"]), "item_count": len(lst["items"])}
            return status, res
    raise NotFound("unknown endpoint")
