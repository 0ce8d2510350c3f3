"""Comparing two backups of an account: exactly the plays, ratings and list items changed between them."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import requests

from backups.models import Backup
from backups.services import browse_index, compare, notify
from backups.services.backup_run import run_backup
from tests.support import connect_account, find_all, page_text, parse, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


def write(trakt, path: str, body: dict) -> dict:
    """A write through trakt's own API (the emulator's), as a user's other apps make them (one a second)."""
    headers = {"trakt-api-key": "test-client-id", "trakt-api-version": "2", "User-Agent": "test",
               "Authorization": f"Bearer {trakt.grant('alice-trakt')['access_token']}"}
    while (response := requests.post(f"{trakt.api_url}{path}", json=body, timeout=10, headers=headers)) \
            .status_code == 429:
        time.sleep(float(response.headers["Retry-After"]))
    assert response.status_code in (200, 201), response.text
    return response.json()


def ids(media: dict) -> dict:
    return {"ids": {"trakt": media["ids"]["trakt"]}}


@pytest.fixture
def two_backups(trakt, alice):
    """Two backups of alice, with known changes at trakt between them (the emulator's state before and after)."""
    account = connect_account(trakt, "alice-trakt", alice, profile="small", sizes={"history": 120})
    older = run_backup(account)
    before = trakt.user_data("alice-trakt")
    plays = before["/sync/history"]
    gone = [plays[3]["id"], plays[40]["id"]]
    write(trakt, "/sync/history/remove", {"ids": gone})
    movie = next(p["movie"] for p in plays if p["type"] == "movie")
    write(trakt, "/sync/history", {"movies": [{**ids(movie), "watched_at": "2015-06-01T20:00:00.000Z"}]})
    rated = before["/sync/ratings/movies"][0]
    write(trakt, "/sync/ratings", {"movies": [{**ids(rated["movie"]), "rating": rated["rating"] % 10 + 1}]})
    lists = before["/users/me/lists"]
    listed = before[f"/users/me/lists/{lists[0]['ids']['trakt']}/items"][0]
    write(trakt, f"/users/me/lists/{lists[0]['ids']['trakt']}/items/remove",
          {f"{listed['type']}s": [ids(listed[listed["type"]])]})
    newer = run_backup(account, full=True)
    assert older.status == newer.status == Backup.Status.SUCCESS
    return older, newer, before, trakt.user_data("alice-trakt"), {"gone": gone, "movie": movie, "rated": rated,
                                                                   "listed": listed, "list": lists[0]}


def everything(comparison: compare.Comparison, section: str, kind: str) -> list[compare.Change]:
    return comparison.changes(section, kind, 0, 100_000)


def test_the_comparison_lists_exactly_the_changes_made(two_backups):
    older, newer, before, after, made = two_backups
    for backup in (older, newer):
        browse_index.build(backup)
    with compare.Comparison(older, newer) as comparison:
        counts = {c.sheet.name: (c.removed, c.added, c.changed) for c in comparison.counts()}
        removed = everything(comparison, "history", "removed")
        added = everything(comparison, "history", "added")
        ratings = everything(comparison, "ratings", "changed")
        items = everything(comparison, "list-items", "removed")
    # history as a multiset of (item, watched_at), computed here from the emulator's two states
    def plays(state):
        return Counter((p["type"], p[p["type"]]["ids"]["trakt"], p["watched_at"]) for p in state["/sync/history"])
    assert sum((plays(before) - plays(after)).values()) == len(removed) == 2
    assert sum((plays(after) - plays(before)).values()) == len(added) == 1
    assert {c.before["at"] for c in removed} == {p["watched_at"] for p in before["/sync/history"]
                                                  if p["id"] in made["gone"]}
    assert added[0].after["at"].startswith("2015-06-01T20:00") and added[0].after["title"] == made["movie"]["title"]
    assert [(c.after["title"], c.fields) for c in ratings] == [
        (made["rated"]["movie"]["title"], [("rating", made["rated"]["rating"], made["rated"]["rating"] % 10 + 1)])]
    assert [c.before["title"] for c in items] == [made["listed"][made["listed"]["type"]].get("title")]
    assert counts["ratings"] == (0, 0, 1) and counts["list-items"] == (1, 0, 0)
    assert counts["history"] == (2, 1, 0) and counts["watchlist"] == (0, 0, 0)
    assert counts["lists"] == (0, 0, 1)  # its item count


def test_a_play_whose_time_changed_is_one_change(trakt, alice):
    account = connect_account(trakt, "alice-trakt", alice, profile="tiny")
    older = run_backup(account)
    play = trakt.user_data("alice-trakt")["/sync/history"][0]
    trakt.move_play("alice-trakt", play["id"], "2001-01-01T01:01:01.000Z")  # as a bad sync at trakt's side can
    newer = run_backup(account, full=True)
    for backup in (older, newer):
        browse_index.build(backup)
    with compare.Comparison(older, newer) as comparison:
        counts = {c.sheet.name: (c.removed, c.added, c.changed) for c in comparison.counts()}
        changed = everything(comparison, "history", "changed")
    assert counts["history"] == (0, 0, 1)
    assert changed[0].fields == [("time", play["watched_at"], "2001-01-01T01:01:01.000Z")]


def test_the_page_shows_the_counts_and_items_a_page_at_a_time(two_backups, alice):
    older, newer, _, _, made = two_backups
    client = signed_in(alice)
    page = client.get(f"/backups/{newer.pk}/compare/")  # by default: with the backup before it
    assert page.status_code == 200
    text = page_text(page)
    assert "History" in text and older.created.strftime("%Y-%m-%d %H:%M") in text
    shown = [row.select("td")[2].text for row in find_all(parse(page), "table.changes tbody tr")]
    assert len(shown) == 2  # the first section with changes, history, and its first kind: removed
    ratings = client.get(f"/backups/{newer.pk}/compare/", {"with": older.pk, "section": "ratings", "kind": "changed"})
    assert made["rated"]["movie"]["title"] in page_text(ratings) and "rating:" in page_text(ratings)
    same = client.get(f"/backups/{older.pk}/compare/", {"with": newer.pk})  # either way round: older → newer
    assert page_text(same).count("2015-06-01") == 0 or "Removed" in page_text(same)


def test_only_the_same_accounts_backups_compare(two_backups, trakt, bob):
    older, newer, *_ = two_backups
    bobs = run_backup(connect_account(trakt, "bob-trakt", bob, profile="tiny"))
    client = signed_in(bob)
    assert client.get(f"/backups/{newer.pk}/compare/").status_code == 404
    assert client.get(f"/backups/{bobs.pk}/compare/", {"with": newer.pk}).status_code == 404  # alice's
    page = client.get(f"/backups/{bobs.pk}/compare/")
    assert page.status_code == 200 and "nothing to compare" in page_text(page)


def test_the_data_loss_notice_links_to_the_comparison(two_backups, settings, monkeypatch):
    older, newer, *_ = two_backups
    settings.SITE_URL = "https://backups.example"
    sent = []
    monkeypatch.setattr(notify, "send", lambda account, title, body: sent.append(body))
    notify.data_dropped(newer, [("sync/history", 120, 60)], older)
    assert f"https://backups.example/backups/{newer.pk}/compare/?with={older.pk}" in sent[0]


def test_the_pages_queries_are_fixed(two_backups, alice, django_assert_max_num_queries):
    older, newer, *_ = two_backups
    client = signed_in(alice)
    client.get(f"/backups/{newer.pk}/compare/")  # both indexes built
    with django_assert_max_num_queries(10):
        assert client.get(f"/backups/{newer.pk}/compare/", {"section": "history", "kind": "removed"}).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(f"/backups/{newer.pk}/charts/").status_code == 200
