"""Browsing inside a backup: sections, search, filters and pages read from the archive's index."""

from __future__ import annotations

import json
import re
import zipfile

import pytest
from django.test import Client
from django_q.conf import Conf

from backups import tasks
from backups.models import Backup
from backups.services import browse_index, retention
from backups.services.backup_run import run_backup
from backups.services.import_run import import_export
from tests.support import connect_account, damage_archive, find_all, page_text, parse, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backup(trakt, alice) -> Backup:
    done = run_backup(connect_account(trakt, "alice-trakt", alice, profile="small", sizes={"history": 180}))
    assert done.status == Backup.Status.SUCCESS, done.error
    return done


def rows(response) -> list[list[str]]:
    return [[cell.text for cell in row.select("td")] for row in find_all(parse(response), "table.browse tbody tr")]


def history(trakt) -> list[dict]:
    return trakt.user_data("alice-trakt")["/sync/history"]


def test_the_history_newest_first_a_page_at_a_time(backup, trakt, alice):
    client = signed_in(alice)
    page = client.get(f"/backups/{backup.pk}/browse/")
    assert page.status_code == 200
    plays = history(trakt)
    text = page_text(page)
    assert f"{len(plays)} items." in text and "History" in text and backup.download_name in text
    first, shown = plays[0], rows(page)
    assert len(shown) == 50 and shown[0][0].startswith(first["watched_at"][:10]) and shown[0][1] == first["type"]
    last = client.get(f"/backups/{backup.pk}/browse/history/?page=4")
    assert len(rows(last)) == len(plays) - 150 and "Page 4 of 4" in page_text(last)


def test_search_filters_and_the_pages_keep_them(backup, trakt, alice):
    client = signed_in(alice)
    plays = history(trakt)
    def words(play) -> list[str]:
        media = play.get("movie") or play.get("episode") or {}
        return re.findall(r"\w+", f"{media.get('title') or ''} {play.get('show', {}).get('title') or ''}".lower())

    word = next(w for w in words(plays[0]) if w.isascii() and len(w) > 4)
    expected = [p for p in plays if any(w.startswith(word[:4]) for w in words(p))]
    found = client.get(f"/backups/{backup.pk}/browse/history/", {"q": word[:4]})
    assert f"{len(expected)} item" in page_text(found) and len(expected) > 0
    movies = [p for p in plays if p["type"] == "movie"]
    typed = client.get(f"/backups/{backup.pk}/browse/history/", {"type": "movie"})
    assert f"{len(movies)} item" in page_text(typed) and all(r[1] == "movie" for r in rows(typed))
    day = plays[10]["watched_at"][:10]
    dated = client.get(f"/backups/{backup.pk}/browse/history/", {"since": day, "until": day})
    assert len(rows(dated)) == sum(1 for p in plays if p["watched_at"][:10] == day)
    if len(plays) > 50:
        pager = find_all(parse(client.get(f"/backups/{backup.pk}/browse/history/", {"type": "episode"})),
                         "a[rel=next]")
        assert not pager or "type=episode" in pager[0]["href"]


def test_ratings_and_list_items_filter_by_value_and_list(backup, trakt, alice):
    client = signed_in(alice)
    data = trakt.user_data("alice-trakt")
    ratings = [r for kind in ("movies", "shows", "seasons", "episodes") for r in data[f"/sync/ratings/{kind}"]]
    value = ratings[0]["rating"]
    page = client.get(f"/backups/{backup.pk}/browse/ratings/", {"rating": value})
    assert f"{sum(1 for r in ratings if r['rating'] == value)} item" in page_text(page)
    assert all(r[4] == str(value) for r in rows(page))
    lists = data["/users/me/lists"]
    wanted = lists[0]
    page = client.get(f"/backups/{backup.pk}/browse/list-items/", {"list_id": wanted["ids"]["trakt"]})
    items = data[f"/users/me/lists/{wanted['ids']['trakt']}/items"]
    assert f"{len(items)} item" in page_text(page) and all(r[4] == wanted["name"] for r in rows(page))


@pytest.mark.parametrize("q", ['"', "AND OR NOT (", "*", "title:x", "' OR 1=1 --", "\u202eecila", "x" * 500])
def test_any_search_text_is_only_words(backup, alice, q):
    response = signed_in(alice).get(f"/backups/{backup.pk}/browse/history/", {"q": q, "rating": "1; DROP"})
    assert response.status_code == 200


def test_another_user_gets_404_and_nobody_signed_out_gets_in(backup, bob):
    assert signed_in(bob).get(f"/backups/{backup.pk}/browse/").status_code == 404
    response = Client().get(f"/backups/{backup.pk}/browse/history/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert signed_in(bob).get("/backups/999999/browse/").status_code == 404


def test_unknown_section_is_404(backup, alice):
    assert signed_in(alice).get(f"/backups/{backup.pk}/browse/passwords/").status_code == 404


def test_one_index_per_archive_file_deleted_with_the_last_backup_and_rebuilt(backup, alice):
    client = signed_in(alice)
    assert client.get(f"/backups/{backup.pk}/browse/").status_code == 200
    path = browse_index.index_path(backup.sha256)
    assert path.is_file() and oct(path.stat().st_mode & 0o777) == "0o600"
    path.unlink()  # a cache: built again on the next open
    assert client.get(f"/backups/{backup.pk}/browse/ratings/").status_code == 200 and path.is_file()
    twin = Backup.objects.create(account=backup.account, status=Backup.Status.SUCCESS, archive_name="other.tar.gz",
                                 sha256=backup.sha256)
    retention.delete_backup(twin)
    assert path.is_file(), "an index another backup still uses was deleted"
    retention.delete_backup(backup)
    assert not path.exists()


def test_a_large_archive_is_indexed_by_a_worker_while_the_page_says_so(backup, alice, monkeypatch):
    monkeypatch.setattr(browse_index, "INLINE_MAX_BYTES", 0)
    monkeypatch.setattr(Conf, "SYNC", False)  # queued, as for a real worker
    client = signed_in(alice)
    waiting = client.get(f"/backups/{backup.pk}/browse/")
    assert waiting.status_code == 202 and "a worker is reading it into an index" in page_text(waiting)
    assert '<meta http-equiv="refresh" content="3">' in waiting.content.decode()
    assert tasks.build_browse_index(backup.pk) == "built"
    assert client.get(f"/backups/{backup.pk}/browse/").status_code == 200


def test_hostile_titles_are_text(trakt, alice, tmp_path):
    hostile = '<script>alert(1)</script> \u202eecila'
    play = {"id": 1, "watched_at": "2026-01-01T10:00:00.000Z", "action": "watch", "type": "movie",
            "movie": {"title": hostile, "year": 2020, "ids": {"trakt": 7}}}
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("user-settings.json", json.dumps({"user": {"username": "alice-trakt"}}))
        zf.writestr("watched-history.json", json.dumps([play]))
    imported = import_export(path, "alice-trakt", alice)
    page = signed_in(alice).get(f"/backups/{imported.pk}/browse/")
    html = page.content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "\u202e" not in html  # shown as a visible mark, not obeyed


def test_queries_do_not_grow_with_the_archive(backup, alice, django_assert_max_num_queries):
    client = signed_in(alice)
    client.get(f"/backups/{backup.pk}/browse/")
    with django_assert_max_num_queries(8):
        assert client.get(f"/backups/{backup.pk}/browse/history/", {"q": "the", "page": "2"}).status_code == 200


def test_a_damaged_archive_is_refused_with_its_sentence_and_never_indexed(backup, alice):
    damage_archive(backup.archive_key)  # not verified yet: the open finds it out
    page = signed_in(alice).get(f"/backups/{backup.pk}/browse/")
    assert page.status_code == 409, page.status_code
    assert "failed its integrity check" in page_text(page) and "Traceback" not in page_text(page)
    backup.refresh_from_db()
    assert backup.verify_ok is False  # recorded: not downloaded, restored or opened again
    assert signed_in(alice).get(f"/backups/{backup.pk}/download").status_code == 404
    assert not browse_index.index_path(backup.sha256).exists()
    assert not list(browse_index.index_path(backup.sha256).parent.glob("*.tmp"))
