"""Looking inside backups in a real browser: open an archive, search its history, filter by date, open a list,
compare two backups and open the charts. The README's screenshots of these pages are taken here."""

from __future__ import annotations

import os
import shutil

import pytest

from backups.models import Backup
from backups.services.backup_run import run_backup
from tests.support import connect_account
from tests.support.browser import ARTIFACTS, BROWSER_TEST, README_IMAGES, sign_in

pytestmark = BROWSER_TEST


def screenshot(page, name: str) -> None:
    """The page as the README shows it (copied into docs/ with UPDATE_SCREENSHOTS=1)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    assert (ARTIFACTS / name).stat().st_size < 400_000
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(ARTIFACTS / name, README_IMAGES / name)


@pytest.fixture
def backups(trakt, alice):
    """Two backups of alice: between them, 3 plays removed at trakt and 2 added."""
    account = connect_account(trakt, "alice-trakt", alice, profile="small", sizes={"history": 300})
    older = run_backup(account)
    plays = trakt.user_data("alice-trakt")["/sync/history"]
    for play in plays[5:8]:
        trakt.remove_history_item("alice-trakt", play["id"])
    trakt.add_plays("alice-trakt", 2)
    newer = run_backup(account, full=True)
    assert older.status == newer.status == Backup.Status.SUCCESS
    return older, newer, plays, trakt.user_data("alice-trakt")


def test_browse_search_filter_and_open_a_list(page, backups):
    older, newer, _, data = backups
    sign_in(page, "alice")
    page.locator(f"#backup-{newer.pk}").get_by_role("link", name="Browse").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("History")
    assert f"{len(data['/sync/history'])} items." in page.inner_text("main")
    show = next(p["show"]["title"] for p in data["/sync/history"] if p["type"] == "episode")
    word = max(show.split(), key=len)
    page.get_by_label("Title").fill(word)
    page.get_by_role("button", name="Show").click()
    titles = page.locator("table.browse tbody td[data-label='Show / episode'], table.browse tbody "
                          "td[data-label='Title']").all_inner_texts()
    assert any(word in text for text in titles)
    day = data["/sync/history"][20]["watched_at"][:10]
    page.goto(f"/backups/{newer.pk}/browse/history/")
    page.get_by_label("From").fill(day)
    page.get_by_label("To", exact=True).fill(day)
    page.get_by_role("button", name="Show").click()
    dates = page.locator("table.browse tbody td[data-label='Date']").all_inner_texts()
    assert dates and all(text.startswith(day) for text in dates)
    screenshot(page, "browse.png")
    page.get_by_role("navigation", name="Sections of this backup").get_by_role("link", name="List items").click()
    wanted = data["/users/me/lists"][0]
    page.get_by_label("List").select_option(str(wanted["ids"]["trakt"]))
    page.get_by_role("button", name="Show").click()
    shown = page.locator("table.browse tbody tr").count()
    assert shown == min(50, len(data[f"/users/me/lists/{wanted['ids']['trakt']}/items"]))


def test_compare_two_backups_and_open_the_charts(page, backups):
    older, newer, plays, _ = backups
    sign_in(page, "alice")
    page.goto(f"/backups/{newer.pk}/browse/")
    page.get_by_role("navigation", name="Ways to look at this backup").get_by_role("link", name="Compare").click()
    counts = page.locator("table.compare-counts tbody tr", has_text="History")
    assert counts.locator("td").all_inner_texts() == ["3", "2", "0"]
    removed = page.locator("table.changes tbody td[data-label='Date']").all_inner_texts()
    assert sorted(removed) == sorted(f"{p['watched_at'][:10]} {p['watched_at'][11:16]}" for p in plays[5:8])
    screenshot(page, "compare.png")
    counts.get_by_role("link", name="2").click()
    assert page.locator("table.changes tbody tr").count() == 2
    page.get_by_role("link", name="Charts").click()
    assert page.get_by_role("heading", name="Plays per month").is_visible()
    assert page.locator("svg.bars").count() == 6
    page.locator("#chart-weekdays details.numbers summary").click()
    total = sum(int(n.replace(",", "")) for n in page.locator("#chart-weekdays td").all_inner_texts())
    assert total == newer.item_counts["sync/history"]
    screenshot(page, "charts.png")
