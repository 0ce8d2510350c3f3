"""The charts of a backup: their numbers equal counts made here, independently, from the archive's JSON."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from backups.models import Backup
from backups.services.backup_run import run_backup
from tests.support import connect_account, find, find_all, local_archive, page_text, read_archive, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def archive(trakt, alice, tmp_path):
    backup = run_backup(connect_account(trakt, "alice-trakt", alice, profile="small", sizes={"history": 400}))
    assert backup.status == Backup.Status.SUCCESS, backup.error
    return backup, read_archive(local_archive(backup, tmp_path))[1]


def table(page, chart: str) -> list[tuple[str, int]]:
    rows = find_all(find(page, f"#chart-{chart} details.numbers table"), "tbody tr")
    return [(row.select("th")[0].text, int(row.select("td")[0].text.replace(",", ""))) for row in rows]


def test_the_charts_numbers_are_the_archives(archive, alice):
    backup, files = archive
    zone = ZoneInfo(files["users/settings.json"]["account"]["timezone"])
    plays = files["sync/history.json"]
    local = [datetime.fromisoformat(p["watched_at"].replace("Z", "+00:00")).astimezone(zone) for p in plays]
    page = signed_in(alice).get(f"/backups/{backup.pk}/charts/")
    assert page.status_code == 200 and str(zone) in page_text(page)

    months = Counter(f"{moment:%b %Y}" for moment in local)
    shown = table(page, "months")
    assert {label: n for label, n in shown if n} == months and sum(n for _, n in shown) == len(plays)
    assert table(page, "weekdays") == [(day, sum(1 for m in local if f"{m:%a}" == day))
                                       for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")]
    assert table(page, "hours") == [(f"{h:02d}:00", sum(1 for m in local if m.hour == h)) for h in range(24)]
    shows = Counter(p["show"]["title"] for p in plays if p["type"] == "episode")
    top = table(page, "top-shows")
    assert [n for _, n in top] == sorted(shows.values(), reverse=True)[:10]
    assert all(shows[title] == n for title, n in top)
    ratings = Counter(r["rating"] for kind in ("movies", "shows", "seasons", "episodes")
                      for r in files[f"sync/ratings/{kind}.json"])
    assert table(page, "ratings") == [(str(v), ratings.get(v, 0)) for v in range(1, 11)]


def test_the_year_in_review(archive, alice):
    backup, files = archive
    zone = ZoneInfo(files["users/settings.json"]["account"]["timezone"])
    plays = [(datetime.fromisoformat(p["watched_at"].replace("Z", "+00:00")).astimezone(zone), p)
             for p in files["sync/history.json"]]
    year = max(moment.year for moment, _ in plays)
    of_year = [(moment, p) for moment, p in plays if moment.year == year]
    days = Counter(f"{moment:%Y-%m-%d}" for moment, _ in of_year)
    busiest = max(days.items(), key=lambda day: (day[1], day[0]))
    review = find(signed_in(alice).get(f"/backups/{backup.pk}/charts/"), "section.review")
    figures = {dt.text: dd.text for dt, dd in zip(review.select("dt"), review.select("dd"))}
    assert figures["Plays"] == f"{len(of_year):,}"
    assert figures["Shows"] == str(len({p["show"]["ids"]["trakt"] for _, p in of_year if p["type"] == "episode"}))
    assert figures["Movies"] == str(len({p["movie"]["ids"]["trakt"] for _, p in of_year if p["type"] == "movie"}))
    assert figures["Busiest day"].startswith(busiest[0]) and f"{busiest[1]} play" in figures["Busiest day"]


def test_charts_are_drawn_without_script_and_another_user_gets_404(archive, alice, bob):
    backup, _ = archive
    page = signed_in(alice).get(f"/backups/{backup.pk}/charts/")
    svgs = find_all(page, "svg.bars")
    assert len(svgs) == 6 and all(svg.get("role") == "img" and svg.select("rect") for svg in svgs)
    assert all(script.get("src") for script in find_all(page, "script"))  # no inline script
    assert signed_in(bob).get(f"/backups/{backup.pk}/charts/").status_code == 404
