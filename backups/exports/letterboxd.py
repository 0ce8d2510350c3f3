"""The Letterboxd export: the diary CSV Letterboxd's importer reads, and the watchlist as a second CSV.

One diary row per movie play (``Rewatch`` true for every play of a film after its first), dated in the account's
own time zone (trakt's settings; UTC without them), with the film's trakt rating on every row of it: ``Rating10``
as trakt has it (1-10) and ``Rating`` halved (0.5-5); Letterboxd takes the column further right when both are
there, and they agree. A film rated and never watched is a row without a date. Episodes are left out (Letterboxd
holds films only) and counted in the export's notes. Titles are written exactly as trakt has them (the importer
matches on them after the ids), so this CSV is not escaped for spreadsheets as the CSV export is.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backups.archive import UnpackedArchive
from backups.exports.sheets import dig
from backups.exports.zipout import ZipOut

FILM = ["Title", "Year", "imdbID", "tmdbID"]
DIARY = [*FILM, "WatchedDate", "Rating", "Rating10", "Rewatch"]


def account_zone(source: UnpackedArchive) -> ZoneInfo | timezone:
    settings = source.value("users/settings.json")
    name = dig(settings, "account.timezone") if isinstance(settings, dict) else None
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _film(movie: dict) -> list:
    ids = movie.get("ids") or {}
    return [movie.get("title"), movie.get("year"), ids.get("imdb"), ids.get("tmdb")]


def _key(movie: dict):
    ids = movie.get("ids") or {}
    return ids.get("trakt") or (movie.get("title"), movie.get("year"))


def _ratings(source: UnpackedArchive) -> dict:
    """Film → (its trakt rating, the movie), from the movie ratings."""
    rated = {}
    for item in source.items("sync/ratings/movies.json"):
        movie, rating = dig(item, "movie"), dig(item, "rating")
        if isinstance(movie, dict) and isinstance(rating, int) and 1 <= rating <= 10:
            rated[_key(movie)] = (rating, movie)
    return rated


def _rating_cells(rating: int | None) -> list:
    return ["", ""] if rating is None else [f"{rating / 2:g}", rating]


def _movie_plays(source: UnpackedArchive) -> tuple[list[tuple[str, int, dict]], int]:
    """The movie plays, oldest first, as (watched_at, history id, movie); and how many episode plays were left."""
    plays, episodes = [], 0
    for item in source.items("sync/history.json"):
        movie = dig(item, "movie")
        if dig(item, "type") == "movie" and isinstance(movie, dict) and isinstance(item.get("watched_at"), str):
            plays.append((item["watched_at"], item.get("id") or 0, movie))
        elif dig(item, "type") == "episode":
            episodes += 1
    plays.sort(key=lambda play: (play[0], play[1]))
    return plays, episodes


def _day(watched_at: str, zone) -> str:
    try:
        moment = datetime.fromisoformat(watched_at.replace("Z", "+00:00"))
    except ValueError:
        return watched_at[:10]
    return moment.astimezone(zone).date().isoformat()


def write_letterboxd(source: UnpackedArchive, out: ZipOut) -> Generator[None, None, list[str]]:
    rated, zone = _ratings(source), account_zone(source)
    plays, episodes = _movie_plays(source)
    seen: set = set()
    with out.csv("letterboxd-diary.csv", DIARY, spreadsheet_safe=False) as diary:
        for watched_at, _, movie in plays:
            key = _key(movie)
            rating = rated.get(key, (None,))[0]
            diary.row([*_film(movie), _day(watched_at, zone), *_rating_cells(rating), key in seen])
            seen.add(key)
            yield
        for key, (rating, movie) in rated.items():
            if key not in seen:
                diary.row([*_film(movie), "", *_rating_cells(rating), False])
                yield
    with out.csv("letterboxd-watchlist.csv", FILM, spreadsheet_safe=False) as watchlist:
        for item in source.items("sync/watchlist.json"):
            if dig(item, "type") == "movie" and isinstance(item.get("movie"), dict):
                watchlist.row(_film(item["movie"]))
                yield
    unwatched = diary.rows - len(plays)
    notes = [f"{len(plays):,} movie plays of {len(seen):,} films, {unwatched:,} rated films never watched, "
             f"{watchlist.rows:,} films on the watchlist (dates in {zone})."]
    if episodes:
        notes.append(f"{episodes:,} episode plays left out: Letterboxd holds films only.")
    return notes
