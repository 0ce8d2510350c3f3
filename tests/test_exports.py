"""Exports (`manage.py trakt_export`, a backup's Export buttons): CSV, Letterboxd and trakt-import files of an
archive, each checked against the emulator's data or read back by the tools (or this project's import)."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backups.models import Backup
from backups.services.backup_run import run_backup
from backups.services.export_run import ExportError, export_backup
from backups.services.import_run import import_export
from tests.support import connect_account, make_user, manage, read_archive, signed_in
from tests.support.archives import local_archive

pytestmark = pytest.mark.django_db(transaction=True)

USER = "alice"
SIZES = {"history": 700}  # watched-history splits into 3 pages of trakt's export


@pytest.fixture
def backup(trakt, admin_user) -> Backup:
    account = connect_account(trakt, USER, admin_user, profile="small", sizes=SIZES)
    done = run_backup(account)
    assert done.status == Backup.Status.SUCCESS, done.error
    return done


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


def rows(data: bytes) -> list[dict]:
    """A CSV read as Letterboxd or a spreadsheet would: UTF-8 with a header row."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def exported(backup: Backup, fmt: str) -> tuple[dict[str, bytes], list[str]]:
    export = export_backup(backup, fmt)
    data = b"".join(export)
    return unzip(data), export.notes


def expected_diary(data: dict) -> Counter:
    """(imdb, day in the account's zone, Rating10, Rewatch) of every movie play, worked out from trakt's data."""
    zone = ZoneInfo(data["/users/settings"]["account"]["timezone"])
    ratings = {r["movie"]["ids"]["trakt"]: r["rating"] for r in data["/sync/ratings/movies"]}
    plays = sorted((p for p in data["/sync/history"] if p["type"] == "movie"), key=lambda p: (p["watched_at"], p["id"]))
    seen, expected = set(), Counter()
    for play in plays:
        ids = play["movie"]["ids"]
        day = datetime.fromisoformat(play["watched_at"].replace("Z", "+00:00")).astimezone(zone).date().isoformat()
        expected[(ids["imdb"] or "", day, str(ratings.get(ids["trakt"], "")), str(ids["trakt"] in seen).lower())] += 1
        seen.add(ids["trakt"])
    for trakt_id, rating in ratings.items():
        if trakt_id not in seen:
            movie = next(r["movie"] for r in data["/sync/ratings/movies"] if r["movie"]["ids"]["trakt"] == trakt_id)
            expected[(movie["ids"]["imdb"] or "", "", str(rating), "false")] += 1
    return expected


def test_letterboxd_diary_has_one_row_per_movie_play_with_dates_ratings_and_rewatch(backup, trakt):
    files, notes = exported(backup, "letterboxd")
    assert set(files) == {"letterboxd-diary.csv", "letterboxd-watchlist.csv"}
    diary = rows(files["letterboxd-diary.csv"])
    assert list(diary[0]) == ["Title", "Year", "imdbID", "tmdbID", "WatchedDate", "Rating", "Rating10", "Rewatch"]
    got = Counter((r["imdbID"], r["WatchedDate"], r["Rating10"], r["Rewatch"]) for r in diary)
    data = trakt.user_data(USER)
    assert got == expected_diary(data)
    assert any(r["Rewatch"] == "true" for r in diary) and any(r["Rating10"] for r in diary), "a test that proves little"
    for r in diary:
        assert (r["Rating"] == "" and r["Rating10"] == "") or float(r["Rating"]) * 2 == int(r["Rating10"])
    watchlist = rows(files["letterboxd-watchlist.csv"])
    movies = [w["movie"] for w in data["/sync/watchlist"] if w["type"] == "movie"]
    assert [(w["Title"], w["tmdbID"]) for w in watchlist] == [(m["title"], str(m["ids"]["tmdb"] or "")) for m in movies]
    episodes = sum(1 for p in data["/sync/history"] if p["type"] == "episode")
    assert f"{episodes:,} episode plays left out: Letterboxd holds films only." in notes


# Which archive files each CSV holds (written out here, not read from the product's table).
CSV_FILES = {
    "history.csv": r"sync/history", "ratings.csv": r"sync/ratings/\w+", "watchlist.csv": r"sync/watchlist",
    "favorites.csv": r"sync/favorites", "collection.csv": r"sync/collection/(movies|shows)",
    "watched.csv": r"sync/watched/(movies|shows)", "playback.csv": r"sync/playback",
    "lists.csv": r"users/lists(/collaborations)?", "list-items.csv": r"users/lists/(collaborations/)?\d+/items",
    "hidden.csv": r"users/hidden/\w+", "comments.csv": r"users/comments", "likes.csv": r"users/likes/\w+",
    "notes.csv": r"users/notes", "network.csv": r"users/(followers|following|friends|requests|blocked)",
    "saved-filters.csv": r"users/saved_filters/\w+",
}


def test_csv_zip_has_a_row_per_item_of_every_category(backup, tmp_path):
    files, _ = exported(backup, "csv")
    manifest, archive = read_archive(local_archive(backup, tmp_path))
    counts = {member.removesuffix(".json"): entry["items"] for member, entry in manifest["files"].items()
              if isinstance(archive[member], list)}
    expected = {name: sum(n for file, n in counts.items() if re.fullmatch(pattern, file))
                for name, pattern in CSV_FILES.items()}
    assert set(files) == {name for name, pattern in CSV_FILES.items() if any(re.fullmatch(pattern, f) for f in counts)}
    for name, data in files.items():
        assert len(rows(data)) == expected[name], name
    unmatched = [f for f in counts if counts[f] and not any(re.fullmatch(p, f) for p in CSV_FILES.values())]
    assert not unmatched, f"archive files in no CSV: {unmatched}"
    history, first = rows(files["history.csv"]), archive["sync/history.json"][0]
    assert (history[0]["watched_at"], history[0]["id"], history[0]["type"]) == (
        first["watched_at"], str(first["id"]), first["type"])
    media = first[first["type"]]
    assert history[0]["title"] == media["title"] and history[0]["trakt"] == str(media["ids"]["trakt"])
    items = rows(files["list-items.csv"])
    lists = {str(entry["ids"]["trakt"]): entry["name"] for entry in archive["users/lists.json"]}
    assert {r["list"] for r in items if r["list_id"] in lists} == set(lists.values()) - {
        name for list_id, name in lists.items() if not archive[f"users/lists/{list_id}/items.json"]}


def test_trakt_import_files_read_back_by_the_import_give_the_same_history_watchlist_and_ratings(backup, tmp_path,
                                                                                             admin_user):
    files, notes = exported(backup, "trakt-import")
    assert {"watched-history-1.json", "watched-history-2.json", "watched-history-3.json"} <= set(files)
    assert "watched-history.json" not in files and "lists-watchlist.json" in files  # a suffix only when split
    assert [len(json.loads(files[f"watched-history-{n}.json"])) for n in (1, 2, 3)] == [250, 250, 200]
    assert notes and "watched-history 700" in notes[0]
    path = tmp_path / "trakt-import.zip"
    path.write_bytes(b"".join(export_backup(backup, "trakt-import")))
    imported = import_export(path, USER, admin_user)
    _, original = read_archive(local_archive(backup, tmp_path / "original"))
    _, again = read_archive(local_archive(imported, tmp_path / "imported"))
    compared = ["sync/history.json", "sync/watchlist.json",
                *(f"sync/ratings/{kind}.json" for kind in ("movies", "shows", "seasons", "episodes"))]
    for member in compared:
        assert again[member] == original[member], member
    assert all(original[member] for member in compared), "an empty category proves nothing"


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(trakt, admin_user, tmp_path):
    """Titles come from trakt: one that starts like a formula stays text in a spreadsheet."""
    hostile = "=HYPERLINK(\"http://evil.example\",\"click\")"
    play = {"id": 1, "watched_at": "2026-01-01T10:00:00.000Z", "action": "watch", "type": "movie",
            "movie": {"title": hostile, "year": 2020, "ids": {"trakt": 7, "slug": "a", "imdb": "tt1", "tmdb": 7}}}
    rating = {"rated_at": "2026-01-02T10:00:00.000Z", "rating": 9, "type": "movie", "movie": play["movie"]}
    zip_path = tmp_path / "trakt-export-alice.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("user-settings.json", json.dumps({"user": {"username": USER, "ids": {"slug": USER}}}))
        zf.writestr("watched-history.json", json.dumps([play, {**play, "id": 2, "title": "-1", "action": "+x"}]))
        zf.writestr("ratings-movies.json", json.dumps([rating]))
    imported = import_export(zip_path, USER, admin_user)
    files, _ = exported(imported, "csv")
    history = rows(files["history.csv"])
    assert [r["title"] for r in history] == ["'" + hostile] * 2 and history[1]["action"] == "'+x"
    assert rows(files["ratings.csv"])[0]["rating"] == "9"  # numbers are numbers, not text
    diary, _ = exported(imported, "letterboxd")
    assert [r["Title"] for r in rows(diary["letterboxd-diary.csv"])] == [hostile, hostile]  # what Letterboxd matches
    assert [r["Rewatch"] for r in rows(diary["letterboxd-diary.csv"])] == ["false", "true"]
    assert [r["WatchedDate"] for r in rows(diary["letterboxd-diary.csv"])] == ["2026-01-01"] * 2  # no zone: UTC


def test_the_command_writes_the_zip_and_prints_its_path_last(backup, trakt, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    done = manage("trakt_export", "-u", USER, "--format", "letterboxd", "-o", str(out), emulator=trakt)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.parent == out and path.name.startswith("letterboxd-alice-") and path.suffix == ".zip"
    assert "episode plays left out" in done.stdout
    assert rows(unzip(path.read_bytes())["letterboxd-diary.csv"])
    assert [p.name for p in out.iterdir()] == [path.name], "a temporary file was left"
    named = out / "mine.zip"
    done = manage("trakt_export", "-u", USER, "--format", "csv", "--backup", str(backup.pk), "-o", str(named),
                  emulator=trakt)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == str(named), done.stderr
    archive = local_archive(backup, tmp_path / "copy")
    done = manage("trakt_export", "-u", USER, "--format", "trakt-import", "--archive", str(archive), "-o",
                  str(tmp_path / "back.zip"), emulator=trakt)
    assert done.returncode == 0, done.stderr
    assert "watched-history-1.json" in unzip((tmp_path / "back.zip").read_bytes())


@pytest.mark.parametrize("args, sentence", [
    (["--backup", "999999"], "alice has no backup with the id 999999."),
    (["--archive", "/nonexistent.tar.gz"], "There is no archive file at /nonexistent.tar.gz."),
    (["-o", "/nonexistent/folder/x.zip"], "There is no folder /nonexistent/folder to write the export in."),
])
def test_the_command_says_what_is_wrong_in_one_sentence(backup, trakt, tmp_path, args, sentence):
    output = [] if "-o" in args else ["-o", str(tmp_path / "x.zip")]
    done = manage("trakt_export", "-u", USER, "--format", "csv", *args, *output, emulator=trakt)
    assert done.returncode != 0 and done.stderr.strip() == f"CommandError: {sentence}"
    assert "Traceback" not in done.stderr and not (tmp_path / "x.zip").exists()


def test_an_account_without_a_backup_and_a_file_that_is_no_archive(trakt, admin_user, tmp_path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    account = connect_account(trakt, USER, admin_user)
    done = manage("trakt_export", "-u", USER, "--format", "csv", "-o", str(tmp_path), emulator=trakt)
    assert done.returncode != 0 and f"{account.username} has no backup to export yet." in done.stderr
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball")
    done = manage("trakt_export", "-u", USER, "--format", "csv", "--archive", str(junk), "-o", str(tmp_path),
                  emulator=trakt)
    assert done.returncode != 0 and "is not an archive of this project that can be read" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.tar.gz"]


def test_the_dashboard_streams_each_export_to_the_owner_only(backup, admin_user):
    owner = signed_in(admin_user)
    page = owner.get("/").content.decode()
    for fmt in ("csv", "letterboxd", "trakt-import"):
        link = f"/backups/{backup.pk}/export/{fmt}"
        assert f'href="{link}"' in page
        response = owner.get(link)
        assert response.status_code == 200 and response.streaming
        assert response["Content-Type"] == "application/zip"
        assert response["Content-Disposition"] == f'attachment; filename="{fmt}-alice-{_stamp(backup)}.zip"'
        assert unzip(b"".join(response.streaming_content))
    other = signed_in(make_user("mallory"))
    assert other.get(f"/backups/{backup.pk}/export/csv").status_code == 404
    assert owner.get(f"/backups/{backup.pk}/export/pdf").status_code == 404


def _stamp(backup: Backup) -> str:
    return backup.started.strftime("%Y%m%dT%H%M%SZ")


def test_an_export_that_cannot_be_made_says_why(backup):
    backup.status = Backup.Status.FAILED
    with pytest.raises(ExportError, match="That backup has no archive to export."):
        export_backup(backup, "csv")
    with pytest.raises(ExportError, match="There is no export format called 'pdf'"):
        export_backup(backup, "pdf")
