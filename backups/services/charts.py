"""The charts of a backup: plays per month, by weekday and hour, top shows and movies, ratings, a year in review.

``compute`` counts them once, when the browse index is built (its ``meta`` keeps them as JSON), in the account's
own time zone (trakt's settings in the archive; UTC without them), so the charts page reads one row. ``drawn``
turns the numbers into the geometry of server-drawn SVG bars (no script, so ``script-src 'self'`` holds) and
the tables that carry the same numbers for screen readers.
"""

from __future__ import annotations

import calendar
import functools
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timezone, tzinfo

TOP = 10
WEEKDAYS = tuple(calendar.day_abbr)  # Mon … Sun
MONTHS = tuple(calendar.month_abbr)


def compute(db: sqlite3.Connection, zone: tzinfo) -> dict:
    """The numbers of every chart, from an index's items (history and ratings)."""
    hours, days = [0] * 24, Counter()  # days: plays per local day (days since 1970-01-01)
    titles: dict[str, dict[int, set]] = {"shows": {}, "movies": {}}  # per year
    offsets: dict[int, int] = {}  # seconds, per UTC hour (zones change their offset on the hour)
    for moment, kind, trakt, show in db.execute(
            "SELECT unixepoch(at), type, trakt, show_trakt FROM items WHERE section = 'history'"):
        if moment is None:  # not a time
            continue
        offset = offsets.get(moment // 3600)
        if offset is None:
            offset = offsets[moment // 3600] = _offset(moment, zone)
        local = moment + offset
        hours[local % 86400 // 3600] += 1
        days[local // 86400] += 1
        if kind == "movie" or show is not None:
            movie = kind == "movie"
            titles["movies" if movie else "shows"].setdefault(_day(local // 86400).year, set()).add(
                trakt if movie else show)
    weekdays, months, years = [0] * 7, Counter(), {}
    for day, plays in days.items():
        on = _day(day)
        weekdays[on.weekday()] += plays
        months[on.year, on.month] += plays
        years.setdefault(on.year, Counter())[on.isoformat()] = plays
    return {
        "months": _span(months), "weekdays": weekdays, "hours": hours,
        "top_shows": db.execute(
            "SELECT show, COUNT(*) FROM items WHERE section = 'history' AND type = 'episode' AND show_trakt IS NOT "
            "NULL GROUP BY show_trakt ORDER BY 2 DESC, show LIMIT ?", (TOP,)).fetchall(),
        "top_movies": db.execute(
            "SELECT title || coalesce(' (' || year || ')', ''), COUNT(*) FROM items WHERE section = 'history' AND "
            "type = 'movie' GROUP BY coalesce(trakt, title) ORDER BY 2 DESC, title LIMIT ?", (TOP,)).fetchall(),
        "ratings": [dict(db.execute("SELECT rating, COUNT(*) FROM items WHERE section = 'ratings' AND rating "
                                    "BETWEEN 1 AND 10 GROUP BY rating").fetchall()).get(value, 0)
                    for value in range(1, 11)],
        "years": {str(year): _review(per_day, *(len(titles[kind].get(year, ())) for kind in ("shows", "movies")))
                  for year, per_day in sorted(years.items())},
        "zone": str(zone),
    }


EPOCH = date(1970, 1, 1).toordinal()


@functools.lru_cache(maxsize=1 << 16)  # days of 180 years
def _day(number: int) -> date:
    """The date of a day counted from 1970-01-01."""
    return date.fromordinal(EPOCH + number)


def _offset(moment: int, zone: tzinfo) -> int:
    """The zone's UTC offset, in seconds, at a moment (seconds since 1970)."""
    offset = datetime.fromtimestamp(moment, timezone.utc).astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset else 0


def _review(per_day: Counter[str], shows: int, movies: int) -> dict:
    busiest = max(per_day.items(), key=lambda day: (day[1], day[0]))
    return {"plays": per_day.total(), "shows": shows, "movies": movies, "busiest": list(busiest)}


def _span(months: Counter[tuple[int, int]]) -> list[tuple[str, int]]:
    """("YYYY-MM", plays) of every month from the first play's to the last's, the empty ones too."""
    if not months:
        return []
    (year, month), last = min(months), max(months)
    span = []
    while (year, month) <= last:
        span.append((f"{year:04d}-{month:02d}", months.get((year, month), 0)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return span


# -- drawing ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str  # the table's and the tooltip's
    value: int
    x: float
    y: float
    width: float
    height: float
    tick: str = ""  # a label under the axis (every bar of a short chart; the years of the months chart)


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    unit: str
    bars: list[Bar]
    width: int
    height: int
    horizontal: bool = False

    @property
    def total(self) -> int:
        return sum(bar.value for bar in self.bars)

    @property
    def peak(self) -> int:
        return max((bar.value for bar in self.bars), default=0)


HEIGHT, SLOT_MIN = 160, 6  # the drawing area of a column chart; a bar's least width


def columns(id: str, title: str, unit: str, values: list[tuple[str, int, str]]) -> Chart:
    """A column chart of (label, value, tick) that scales to its box (viewBox)."""
    slot = max(SLOT_MIN, 600 / max(len(values), 1))
    peak = max((value for _, value, _ in values), default=0) or 1
    bars = [Bar(label, value, i * slot + slot * 0.1, HEIGHT - value / peak * HEIGHT, slot * 0.8,
                value / peak * HEIGHT, tick) for i, (label, value, tick) in enumerate(values)]
    return Chart(id, title, unit, bars, round(len(values) * slot), HEIGHT + 20)


def rows(id: str, title: str, unit: str, values: list[tuple[str, int]]) -> Chart:
    """A bar chart of (label, value), one row each, labels inside the drawing."""
    peak = max((value for _, value in values), default=0) or 1
    bars = [Bar(label, value, 0, i * 28, value / peak * 600, 20) for i, (label, value) in enumerate(values)]
    return Chart(id, title, unit, bars, 640, len(values) * 28, horizontal=True)


def drawn(data: dict, year: str = "") -> dict:
    """What the charts page shows: the charts, the years there are, and the review of the year asked for (by
    default the last)."""
    months = data["months"]
    charts = [
        columns("months", "Plays per month", "plays",
                [(f"{MONTHS[int(m[5:])]} {m[:4]}", n, m[:4] if m.endswith("-01") or i == 0 else "")
                 for i, (m, n) in enumerate(months)]),
        columns("weekdays", "Plays by weekday", "plays",
                [(day, n, day) for day, n in zip(WEEKDAYS, data["weekdays"])]),
        columns("hours", "Plays by hour of the day", "plays",
                [(f"{h:02d}:00", n, f"{h:02d}" if h % 3 == 0 else "") for h, n in enumerate(data["hours"])]),
        rows("top-shows", "Top shows", "episode plays", [tuple(pair) for pair in data["top_shows"]]),
        rows("top-movies", "Top movies", "plays", [tuple(pair) for pair in data["top_movies"]]),
        columns("ratings", "Ratings", "ratings", [(str(v), n, str(v)) for v, n in enumerate(data["ratings"], 1)]),
    ]
    years = list(data["years"])
    chosen = year if year in data["years"] else (years[-1] if years else "")
    return {"charts": [chart for chart in charts if chart.total], "years": years, "year": chosen,
            "review": data["years"].get(chosen), "zone": data["zone"]}
