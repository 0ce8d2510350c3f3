"""The emulator's copy of trakt's own data export (trakt_emulator/export.py): the file of every kind, trakt's
page files, the list files, the options tests need (subfolder, truncation, _errors.json, CSV), stable bytes."""

import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile

import pytest
import requests

from tests.support import ROOT
from trakt_emulator import Emulator
from trakt_emulator.errors import NotFound
from trakt_emulator.export import NO_EMULATOR_DATA, json_to_csv
from trakt_emulator.reads import resolve_get

pytestmark = pytest.mark.backend_neutral

# The kinds of trakt's export (trakt-api README, "Trakt's own data export"), lists-list-* aside.
KINDS = (
    "user-settings", "user-profile", "user-last-activities", "user-stats", "user-saved-filters",
    "watched-history", "watched-movies", "watched-shows", "watched-playback",
    "ratings-movies", "ratings-shows", "ratings-seasons", "ratings-episodes",
    "collection-movies", "collection-shows", "collection-episodes",
    "lists-watchlist", "lists-favorites", "lists-collaborations", "lists-lists",
    "hidden-calendar", "hidden-progress-watched", "hidden-progress-watched-reset", "hidden-progress-collected",
    "hidden-recommendations",
    "comments-movies", "comments-shows", "comments-seasons", "comments-episodes", "comments-lists",
    "likes-comments", "likes-lists",
    "notes-movies", "notes-shows", "notes-seasons", "notes-episodes", "notes-people", "notes-activities",
    "notes-collection_items", "notes-ratings",
    "network-followers-requests", "network-followers", "network-following", "network-friends",
)
# kind -> the user_data key holding the same answer
SAME_AS = {
    "user-settings": "/users/settings", "user-profile": "/users/me?extended=full",
    "user-last-activities": "/sync/last_activities", "user-stats": "/users/me/stats",
    "watched-history": "/sync/history", "watched-movies": "/sync/watched/movies",
    "watched-shows": "/sync/watched/shows?extended=min", "watched-playback": "/sync/playback",
    **{"ratings-" + kind: "/sync/ratings/" + kind for kind in ("movies", "shows", "seasons", "episodes")},
    "collection-movies": "/sync/collection/movies?extended=metadata",
    "collection-shows": "/sync/collection/shows?extended=metadata",
    "lists-watchlist": "/sync/watchlist", "lists-favorites": "/sync/favorites",
    "lists-collaborations": "/users/me/lists/collaborations", "lists-lists": "/users/me/lists",
    "hidden-calendar": "/users/hidden/calendar", "hidden-progress-watched": "/users/hidden/progress_watched",
    "hidden-progress-collected": "/users/hidden/progress_collected",
    "hidden-recommendations": "/users/hidden/recommendations",
    "likes-comments": "/users/me/likes/comments", "likes-lists": "/users/me/likes/lists",
    "network-followers-requests": "/users/requests", "network-followers": "/users/me/followers",
    "network-following": "/users/me/following", "network-friends": "/users/me/friends",
}
EMPTY_KINDS = ("notes-people", "notes-activities", "notes-collection_items", "notes-ratings")


def read_zip(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def joined(files, kind, extension="json"):
    """A kind's data: `kind.json` alone, or the items of `kind-1.json` … `kind-N.json`, N > 1, without gaps.
    Names are asked for exactly, so a slug ending in `-2025` is never taken for a page."""
    single = "%s.%s" % (kind, extension)
    if single in files:
        assert "%s-1.%s" % (kind, extension) not in files
        return json.loads(files[single])
    pages = []
    while "%s-%d.%s" % (kind, len(pages) + 1, extension) in files:
        pages.append(json.loads(files["%s-%d.%s" % (kind, len(pages) + 1, extension)]))
    assert len(pages) > 1, "no file for %s" % kind
    return [item for page in pages for item in page]


def kinds_in(files):
    """The kinds the file names stand for (`x-1.json`, `x-2.json` are one kind x when `x-1.json` exists)."""
    kinds = set()
    for name in files:
        stem = name.rsplit(".", 1)[0]
        paged = re.fullmatch(r"(.+)-(\d+)", stem)
        kinds.add(paged.group(1) if paged and paged.group(1) + "-1." + name.rsplit(".", 1)[1] in files else stem)
    return kinds


@pytest.fixture(scope="module")
def emu():
    e = Emulator()
    e.add_user("alice", profile="small", seed=1, vip=True)  # 600 plays, a list of 260 items
    e.add_user("bob", profile="tiny", seed=2)  # free
    return e


@pytest.fixture(scope="module")
def alice_data(emu):
    return emu.user_data("alice")


@pytest.fixture(scope="module")
def alice_files(emu, tmp_path_factory):
    return read_zip(emu.export_zip("alice", tmp_path_factory.mktemp("export") / "alice.zip"))


def test_every_kind_has_its_file_and_nothing_else(alice_files, alice_data):
    lists = ["lists-list-%d-%s" % (listed["ids"]["trakt"], listed["ids"]["slug"])
             for listed in alice_data["/users/me/lists"]]
    assert kinds_in(alice_files) == set(KINDS) | set(lists)
    assert all(name.endswith(".json") and "/" not in name for name in alice_files)


def test_a_free_user_has_no_saved_filters(emu, tmp_path):
    files = read_zip(emu.export_zip("bob", tmp_path))
    assert (tmp_path / "trakt-export-bob.zip").exists()
    assert kinds_in(files) >= set(KINDS) - {"user-saved-filters"}
    assert not any(name.startswith("user-saved-filters") for name in files)


def test_history_is_split_in_pages_of_250_that_join_back_to_the_api(alice_files, alice_data):
    assert "watched-history.json" not in alice_files
    pages = [json.loads(alice_files["watched-history-%d.json" % number]) for number in (1, 2, 3)]
    assert [len(page) for page in pages] == [250, 250, 100]
    assert "watched-history-4.json" not in alice_files
    assert joined(alice_files, "watched-history") == alice_data["/sync/history"]


def test_pages_are_what_the_api_answers_when_trakt_clamps_lower(tmp_path):
    e = Emulator()
    e.add_user("fay", profile="tiny", seed=4, sizes={"history": 230})
    e.max_limit = 100  # trakt-web asks for 250; a trakt that caps pages at 100 gives it 100
    files = read_zip(e.export_zip("fay", tmp_path))
    assert [len(json.loads(files["watched-history-%d.json" % n])) for n in (1, 2, 3)] == [100, 100, 30]
    assert joined(files, "watched-history") == e.user_data("fay")["/sync/history"]


def test_every_file_is_the_api_answer(alice_files, alice_data):
    for kind, key in SAME_AS.items():
        assert joined(alice_files, kind) == alice_data[key], kind
    comments = alice_data["/users/me/comments/all/all?include_replies=true"]
    for kind in ("movie", "show", "season", "episode", "list"):
        assert joined(alice_files, "comments-%ss" % kind) == [c for c in comments if c["type"] == kind]
    for kind in ("movie", "show", "season", "episode"):
        notes = [note for note in alice_data["/users/me/notes/all"] if note["item"]["type"] == kind]
        assert joined(alice_files, "notes-%ss" % kind) == notes
    saved = [item for section in ("movies", "shows", "calendars", "search")
             for item in alice_data["/users/saved_filters/" + section]]
    assert joined(alice_files, "user-saved-filters") == saved
    # pretty-printed as JSON.stringify(page, null, 2)
    assert alice_files["user-stats.json"].startswith(b'{\n  "movies": {\n    "plays": ')


def test_kinds_without_emulator_data_are_empty_lists(emu, alice_files):
    for kind in EMPTY_KINDS:
        assert alice_files[kind + ".json"] == b"[]"
    # and the emulator really has no such endpoint: drop one from NO_EMULATOR_DATA once it does
    user = emu.state.users["alice"]
    for endpoint in NO_EMULATOR_DATA:
        with pytest.raises(NotFound):
            resolve_get(user, endpoint.format(slug=user.slug), {})


def test_collection_episodes_are_the_episodes_of_the_collected_shows(alice_files, alice_data):
    episodes = joined(alice_files, "collection-episodes")
    expected = sorted((show["show"]["ids"]["trakt"], season["number"], episode["number"], episode["collected_at"])
                      for show in alice_data["/sync/collection/shows?extended=metadata"]
                      for season in show["seasons"] for episode in season["episodes"])
    got = sorted((row["show"]["ids"]["trakt"], row["episode"]["season"], row["episode"]["number"],
                  row["collected_at"]) for row in episodes)
    assert got == expected
    assert len(episodes) == json.loads(alice_files["user-stats.json"])["episodes"]["collected"]
    assert all(row["type"] == "episode" and row["metadata"] for row in episodes)
    assert [row["collected_at"] for row in episodes] == sorted((row["collected_at"] for row in episodes),
                                                               reverse=True)


def test_list_files_match_lists_lists_by_trakt_id(alice_files, alice_data):
    lists = json.loads(alice_files["lists-lists.json"])
    assert len(lists) == 3
    for listed in lists:
        trakt = listed["ids"]["trakt"]
        kinds = {kind for kind in kinds_in(alice_files) if kind.startswith("lists-list-%d-" % trakt)}
        assert kinds == {"lists-list-%d-%s" % (trakt, listed["ids"]["slug"])}
        items = joined(alice_files, kinds.pop())
        assert items == alice_data["/users/me/lists/%d/items" % trakt]
        assert len(items) == listed["item_count"]
    big = next(listed for listed in lists if listed["item_count"] == 260)
    name = "lists-list-%d-%s" % (big["ids"]["trakt"], big["ids"]["slug"])
    assert {name + "-1.json", name + "-2.json"} <= set(alice_files)
    small = next(listed for listed in lists if listed["item_count"] == 7)
    assert "lists-list-%d-%s.json" % (small["ids"]["trakt"], small["ids"]["slug"]) in alice_files


def test_a_list_slug_ending_in_a_year_is_not_a_page(tmp_path):
    with Emulator(write_rate_limit=(100, 1.0)) as e:
        e.add_user("carol", profile="small", seed=3, vip=True)
        s = requests.Session()
        s.headers.update({"trakt-api-key": e.client_id, "trakt-api-version": "2", "User-Agent": "pytest/1.0",
                          "Authorization": "Bearer " + e.grant("carol")["access_token"]})
        history = e.user_data("carol")["/sync/history"]
        movies = list(dict.fromkeys(play["movie"]["ids"]["trakt"] for play in history if play["type"] == "movie"))
        episodes = list(dict.fromkeys(play["episode"]["ids"]["trakt"] for play in history if play["type"] == "episode"))
        made = {}
        for name, body in (("Best of 2025", {"movies": movies[:3]}),
                           ("Marathon 2025", {"movies": movies[:60], "episodes": episodes[:240]})):
            listed = s.post(e.api_url + "/users/me/lists", json={"name": name}).json()
            body = {key: [{"ids": {"trakt": trakt}} for trakt in ids] for key, ids in body.items()}
            assert s.post(e.api_url + "/users/me/lists/%d/items" % listed["ids"]["trakt"], json=body).status_code == 201
            made[name] = listed["ids"]
        files = read_zip(e.export_zip("carol", tmp_path))
        data = e.user_data("carol")
    best = "lists-list-%d-best-of-2025" % made["Best of 2025"]["trakt"]
    assert made["Best of 2025"]["slug"] == "best-of-2025"
    assert best + ".json" in files and not any(name.startswith("lists-list-%d-best-of." % made["Best of 2025"]["trakt"])
                                                for name in files)
    assert joined(files, best) == data["/users/me/lists/%d/items" % made["Best of 2025"]["trakt"]]
    marathon = "lists-list-%d-marathon-2025" % made["Marathon 2025"]["trakt"]
    assert {marathon + "-1.json", marathon + "-2.json"} <= set(files)
    assert marathon + ".json" not in files and marathon + "-3.json" not in files
    items = joined(files, marathon)
    assert len(items) == 300 and items == data["/users/me/lists/%d/items" % made["Marathon 2025"]["trakt"]]


def test_subfolder_holds_every_file(emu, alice_files, tmp_path):
    files = read_zip(emu.export_zip("alice", tmp_path / "re-zipped.zip", subfolder="trakt-export-alice",
                                    errors=[]))
    assert all(name.startswith("trakt-export-alice/") for name in files)
    inside = {name.split("/", 1)[1]: data for name, data in files.items()}
    assert inside.pop("_errors.json") == b"[]"
    assert inside == alice_files


def test_truncated_history_keeps_the_newest_plays_and_the_real_stats(emu, alice_files, alice_data, tmp_path):
    files = read_zip(emu.export_zip("alice", tmp_path / "cut.zip", truncate_history=300))
    assert joined(files, "watched-history") == alice_data["/sync/history"][:300]
    assert {"watched-history-1.json", "watched-history-2.json"} <= set(files)
    assert "watched-history-3.json" not in files
    assert files["user-stats.json"] == alice_files["user-stats.json"]
    stats = json.loads(files["user-stats.json"])
    assert stats["movies"]["plays"] + stats["episodes"]["plays"] == 600
    files = read_zip(emu.export_zip("alice", tmp_path / "cut.zip", truncate_history=100))
    assert json.loads(files["watched-history.json"]) == alice_data["/sync/history"][:100]


def test_errors_file_of_a_partial_export(emu, alice_files, tmp_path):
    errors = [{"endpoint": "users/alice/history?extended=gdpr", "error": "HTTP 502", "fetchedPages": 2,
               "totalPages": 3}]
    files = read_zip(emu.export_zip("alice", tmp_path / "partial.zip", errors=errors))
    assert json.loads(files.pop("_errors.json")) == errors
    assert files == alice_files
    assert "_errors.json" not in alice_files


def test_csv_has_a_bom_and_dotted_columns(emu, alice_files, alice_data, tmp_path):
    path = emu.export_zip("alice", tmp_path, csv=True)
    assert path.name == "trakt-export-alice-csv.zip"
    files = read_zip(path)
    assert [name[:-4] for name in files] == [name[:-5] for name in alice_files]
    for name, data in files.items():
        # an empty page is an empty file, as trakt-web writes it; every other file starts with the BOM
        if alice_files[name[:-4] + ".json"] == b"[]":
            assert data == b"", name
        else:
            assert data.startswith("\ufeff".encode()) and not data.startswith("\ufeff\ufeff".encode()), name
    rows = list(csv.DictReader(io.StringIO(files["watched-history-1.csv"].decode("utf-8-sig"), newline="")))
    history = alice_data["/sync/history"]
    assert len(rows) == 250
    assert {"id", "watched_at", "episode.ids.trakt", "show.ids.slug", "movie.ids.imdb"} <= set(rows[0])
    for row, play in zip(rows, history):
        assert row["id"] == str(play["id"]) and row["type"] == play["type"]
        media = play[play["type"]]
        assert row[play["type"] + ".ids.trakt"] == str(media["ids"]["trakt"])
        assert row[play["type"] + ".title"] == (media["title"] or "")
    shows = list(csv.DictReader(io.StringIO(files["collection-shows.csv"].decode("utf-8-sig"), newline="")))
    assert [json.loads(row["seasons"]) for row in shows] == [show["seasons"] for show in
                                                              alice_data["/sync/collection/shows?extended=metadata"]]
    settings = list(csv.DictReader(io.StringIO(files["user-settings.csv"].decode("utf-8-sig"), newline="")))
    assert len(settings) == 1 and settings[0]["user.ids.slug"] == "alice"


def test_csv_cells_follow_trakt_webs_rules():
    text = json_to_csv([
        {"title": "Up", "ids": {"trakt": 1, "imdb": None}, "genres": ["a", "b"], "extra": {}, "vip": True,
         "progress": 12.0, "note": '=HYPERLINK("x")'},
        {"title": " Spaced, out ", "rating": 8.5, "ids": {"trakt": 2}},
    ])
    assert text.split("\r\n") == [
        "title,ids.trakt,ids.imdb,genres,extra,vip,progress,note,rating",
        'Up,1,,"[""a"",""b""]",{},true,12,"\'=HYPERLINK(""x"")",',
        '" Spaced, out ",2,,,,,,,8.5',
    ]
    assert json_to_csv([]) == "" and json_to_csv({}) == ""
    assert json_to_csv(["x", 3]) == "value\r\nx\r\n3"


def test_the_same_account_gives_the_same_bytes(tmp_path):
    digests = []
    for number in (1, 2):
        e = Emulator()
        e.add_user("dora", profile="small", seed=7, vip=True)
        path = e.export_zip("dora", tmp_path / ("dora-%d.zip" % number))
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
        with zipfile.ZipFile(path) as archive:
            assert {info.date_time for info in archive.infolist()} == {(2026, 7, 1, 0, 0, 0)}
    assert digests[0] == digests[1]
    assert not list(tmp_path.glob("*.tmp"))


def test_the_command_line_writes_an_export_and_exits(tmp_path):
    run = subprocess.run([sys.executable, "-m", "trakt_emulator", "--user", "eve:tiny", "--export",
                          "eve:%s" % tmp_path, "--export-subfolder", "eve"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(tmp_path / "trakt-export-eve.zip")
    assert "eve/watched-history.json" in read_zip(tmp_path / "trakt-export-eve.zip")
    run = subprocess.run([sys.executable, "-m", "trakt_emulator", "--export", "nobody:%s" % tmp_path], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        "--export nobody:%s: expected USER:PATH with one of the seeded users (demo)" % tmp_path]
