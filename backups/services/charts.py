"""The charts of a backup: plays per month, by weekday and hour, top shows and movies, ratings, a year in review.

``compute`` counts them once, when the browse index is built (its ``meta`` keeps them as JSON), in the account's
own time zone (trakt's settings in the archive; UTC without them), so the charts page reads one row. ``drawn``
turns the numbers into the geometry of server-drawn SVG bars (no script, so ``script-src 'self'`` holds) and
the tables that carry the same numbers for screen readers.
"""

from __future__ import annotations

import calendar
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

TOP = 10
WEEKDAYS = tuple(calendar.day_abbr)  # Mon … Sun
MONTHS = tuple(calendar.month_abbr)


def compute(db: sqlite3.Connection, zone: tzinfo) -> dict:
    """The numbers of every chart, from an index's items (history and ratings)."""
    months: Counter[str] = Counter()
    weekdays, hours = [0] * 7, [0] * 24
    years: dict[str, dict] = {}
    offsets: dict[str, timedelta] = {}
    for at, kind, trakt, show in db.execute(
            "SELECT at, type, trakt, show_trakt FROM items WHERE section = 'history' AND at IS NOT NULL"):
        local = _local(at, zone, offsets)
        if local is None:
            continue
        months[f"{local:%Y-%m}"] += 1
        weekdays[local.weekday()] += 1
        hours[local.hour] += 1
        year = years.setdefault(str(local.year), {"plays": 0, "shows": set(), "movies": set(), "days": Counter()})
        year["plays"] += 1
        year["days"][f"{local:%Y-%m-%d}"] += 1
        if kind == "movie":
            year["movies"].add(trakt)
        elif show is not None:
            year["shows"].add(show)
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
        "years": {name: {"plays": y["plays"], "shows": len(y["shows"]), "movies": len(y["movies"]),
                         "busiest": list(max(y["days"].items(), key=lambda day: (day[1], day[0])))}
                  for name, y in sorted(years.items())},
        "zone": str(zone),
    }


def _local(at: str, zone: tzinfo, offsets: dict[str, timedelta]) -> datetime | None:
    """A play's time in the zone (its UTC offset looked up once an hour: zones change offset on the hour)."""
    try:
        moment = datetime.fromisoformat(at[:19])
    except ValueError:
        return None
    hour = at[:13]
    if hour not in offsets:
        offsets[hour] = moment.replace(minute=0, second=0, tzinfo=timezone.utc).astimezone(zone).utcoffset() \
            or timedelta()
    return moment + offsets[hour]


def _span(months: Counter[str]) -> list[tuple[str, int]]:
    """Every month from the first play's to the last's, the empty ones too."""
    if not months:
        return []
    first, last = min(months), max(months)
    year, month = int(first[:4]), int(first[5:])
    span = []
    while f"{year:04d}-{month:02d}" <= last:
        span.append((f"{year:04d}-{month:02d}", months.get(f"{year:04d}-{month:02d}", 0)))
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
