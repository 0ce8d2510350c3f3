"""Hostile input: names that try to leave the archive folder, malformed codes, crons and credentials, and
trakt answers that are huge or nested without end. The names and the answers come from the emulator, as they
would from trakt; the huge answers are read by a real backup process under a real memory limit."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import pytest

from backups.models import Account, AppCredentials, AuthEvent, Backup
from backups.services.backup_run import run_backup
from backups.services.grants import ServiceError, connect_with_code, save_app_credentials
from backups.services.schedules import InvalidCron, set_backup_cron, validate_cron
from django_q.models import Schedule
from tests.support import (CLIENT_ID, CLIENT_SECRET, ROOT, app_env, archive_copy, connect_account, find, find_all,
                           read_archive, signed_in)

pytestmark = pytest.mark.django_db(transaction=True)

SAFE_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SAFE_ARCHIVE = re.compile(r"^backup-[A-Za-z0-9][A-Za-z0-9._-]{0,99}-\d{8}T\d{6}Z\.tar\.gz$")

HOSTILE_NAMES = [
    "../../../../tmp/escaped",
    "a/b\\c",
    "..",
    ".hidden",
    "'; DROP TABLE backups_account; --",
    '"quoted" <b>&amp; `tick`',
    "Zoë Ångström 用户 😀 \u202eRTL",
    "tab\there\nnew\rline\x1b[31mred\x7f",
    "-rf --help",
    "CON",
    "x" * 300,
]


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n)[:24])
def test_hostile_usernames_and_slugs_stay_inside_the_archive_folder(trakt, admin_user, settings, tmp_path, name):
    info = trakt.add_user(name, profile="tiny")
    # trakt's own slugs are tame; make the slug as hostile as the name, as a broken or hostile trakt could
    user_settings = trakt.user_data(name)["/users/settings"]
    user_settings["user"]["ids"]["slug"] = name
    trakt.inject("wrong_shape", path=r"^/users/settings$", times=None, value=user_settings)
    outside = tmp_path.parent
    before = {p for p in outside.rglob("*") if tmp_path not in p.parents and p != tmp_path}

    account = connect_with_code(trakt.issue_code(name), admin_user, expected_username=name)
    assert account.username == name[:200] and account.slug == name[:200] and account.trakt_id == info["uuid"]
    backup = run_backup(account)
    assert backup.status == Backup.Status.SUCCESS, backup.error

    root = Path(settings.ARCHIVE_DIR).resolve()
    folder, archive_name = backup.archive_key.split("/")
    assert SAFE_FOLDER.match(folder) and SAFE_ARCHIVE.match(archive_name), backup.archive_key
    assert (root / folder / archive_name).resolve().parent == root / folder
    written = {p.resolve() for p in _files_under(tmp_path)}
    assert all(root in p.parents for p in written), written
    after = {p for p in outside.rglob("*") if tmp_path not in p.parents and p != tmp_path}
    assert after == before, f"files appeared outside the test's folder: {after - before}"
    manifest, files = read_archive(archive_copy(backup.archive_key, tmp_path / "copy"))  # members under the top
    assert manifest["username"] == name[:200]  # the account's name, as stored (200 characters at most)
    assert files["users/settings.json"]["user"]["username"] == name  # the data, exactly as trakt sent it
    assert all(".." not in Path(member).parts for member in [*files, *manifest["skipped"]])


def test_hostile_list_ids_and_names_never_leave_the_archive(trakt, admin_user, settings, tmp_path):
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    lists = trakt.user_data("alice")["/users/me/lists"]
    hostile = [
        {**lists[0], "name": "../../etc/passwd", "ids": {"trakt": "../../../../escape", "slug": "../.."}},
        {**lists[1], "name": "A/B \"list\"\n\x00", "ids": {"trakt": "7/../../8", "slug": "a/b"}},
        *lists,
    ]
    trakt.inject("wrong_shape", path=r"^/users/me/lists$", times=None, value=hostile)
    backup = run_backup(account)
    assert backup.status == Backup.Status.SUCCESS, backup.error
    root = Path(settings.ARCHIVE_DIR).resolve()
    assert all(root in p.resolve().parents for p in _files_under(tmp_path))
    manifest, files = read_archive(archive_copy(backup.archive_key, tmp_path / "copy"))
    members = [*manifest["files"], *manifest["skipped"]]
    assert all(".." not in Path(m).parts and not m.startswith("/") for m in members), members
    assert files["users/lists.json"] == hostile  # stored as trakt sent it
    for real in lists:  # the real lists are all there
        assert f"users/lists/{real['ids']['trakt']}/items.json" in manifest["files"]


def test_hostile_list_ids_do_not_steer_requests(trakt, admin_user):
    from backups.catalog import CATEGORIES

    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    lists = trakt.user_data("alice")["/users/me/lists"]
    trakt.inject("wrong_shape", path=r"^/users/me/lists$", times=None,
                 value=[{**lists[0], "ids": {"trakt": "../../../../users/me/history?x="}}, *lists[1:]])
    trakt.reset_log()
    assert run_backup(account).status == Backup.Status.SUCCESS
    expected = {c.endpoint for c in CATEGORIES if not c.per_list}
    steered = {e["path"] for e in trakt.requests
               if e["path"] not in expected and not re.fullmatch(r"/users/[a-z0-9-]+/lists/\d+/items", e["path"])}
    assert not steered, f"list ids from trakt steered requests to {steered}"


# -- codes, crons and credentials -------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["", "   ", "a" * 201, "abc def", "abc\ndef", "abc\x00def", "abc\tdef",
                                  "\u202eabc"], ids=repr)
def test_malformed_codes_are_refused_before_reaching_trakt(trakt, admin_user, code):
    trakt.add_user("alice", profile="tiny")
    with pytest.raises(ServiceError, match="That code is not valid: copy the code trakt shows, with no spaces."):
        connect_with_code(code, admin_user, expected_username="alice")
    assert trakt.count(path_regex=r"^/oauth/") == 0
    assert not Account.objects.exists() and not AuthEvent.objects.exists()


@pytest.mark.parametrize("code", ["f" * 200, "äöü-code", "';DROP/**/TABLE/**/x;--"], ids=repr)
def test_codes_trakt_does_not_know_get_a_sentence(trakt, admin_user, code):
    trakt.add_user("alice", profile="tiny")
    with pytest.raises(ServiceError, match="did not accept that code"):
        connect_with_code(code, admin_user, expected_username="alice")
    assert not Account.objects.exists() and not AuthEvent.objects.exists()


BAD_CRONS = ["", "   ", "* * * * *", "*/10 * * * *", "0 4 * * 6 extra", "61 4 * * *", "0 25 * * *", "@reboot",
             "0 4 * * 6; rm -rf /", "0 4 * * 6\x00", "0 4\n* * 6 0", "a" * 150, "0 4 * * 8", "1-5/0 4 * * *"]


@pytest.mark.parametrize("expression", BAD_CRONS, ids=repr)
def test_bad_cron_expressions_get_a_sentence_and_change_nothing(trakt, admin_user, expression):
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    schedules = list(Schedule.objects.values_list("name", "cron").order_by("name"))
    with pytest.raises(InvalidCron) as caught:
        set_backup_cron(account, expression)
    assert str(caught.value).endswith((".", ")")) and len(str(caught.value)) < 300
    account.refresh_from_db()
    assert account.backup_cron == ""
    assert list(Schedule.objects.values_list("name", "cron").order_by("name")) == schedules


@pytest.mark.parametrize("expression", ["0 4 31 2 *", "0 4 30 2 *"])
def test_a_cron_that_never_fires_gets_a_sentence(expression):
    with pytest.raises(InvalidCron):
        validate_cron(expression)


def test_good_crons_are_kept_tidy():
    assert validate_cron("  30   4 * *  6 ") == "30 4 * * 6"


BAD_CREDENTIALS = [("", "secret"), ("id", ""), ("   ", "   "), ("a" * 201, "secret"), ("id", "s" * 501),
                   ("id\x00", "secret"), ("id", "sec\nret"), ("id\t1", "secret"), ("id", "\x1b[31msecret")]


@pytest.mark.parametrize("client_id, client_secret", BAD_CREDENTIALS, ids=repr)
def test_bad_app_credentials_get_a_sentence_and_store_nothing(trakt, client_id, client_secret):
    stored = list(AppCredentials.objects.values_list("id", "client_id"))
    with pytest.raises(ServiceError, match="Client ID"):
        save_app_credentials(client_id, client_secret)
    assert list(AppCredentials.objects.values_list("id", "client_id")) == stored
    assert AppCredentials.current().client_secret == CLIENT_SECRET and AppCredentials.current().client_id == CLIENT_ID


@pytest.mark.parametrize("client_id, client_secret", [("my client id", "secret"), ("id-用户", "secret"),
                                                      ("id", "sécret ✨")], ids=repr)
def test_malformed_app_credentials_are_refused(trakt, client_id, client_secret):
    with pytest.raises(ServiceError):
        save_app_credentials(client_id, client_secret)


# -- huge and deeply nested answers, under a real memory limit ---------------------------------------------

MEMORY_LIMIT = 1 << 30  # 1 GB of address space for the whole backup process


def _backup_with_memory_limit(trakt, username: str) -> subprocess.CompletedProcess:
    launcher = (
        "import os, resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))\n"
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
    )
    return subprocess.run(
        [sys.executable, "-c", launcher, str(ROOT / "manage.py"), "trakt_backup", "-u", username],
        cwd=ROOT, env=app_env(trakt), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )


def _huge_json() -> bytes:
    item = b'{"id":1234567,"watched_at":"2014-03-31T09:28:53.000Z","action":"scrobble","type":"movie"}'
    return b"[" + b",".join([item] * (50_000_000 // len(item))) + b"]"  # 50 MB, about 540,000 items


def _gzip_bomb() -> bytes:
    return gzip.compress(b"[" + b"0," * 40_000_000 + b"0]", compresslevel=9)  # 80 MB unpacked, 80 KB sent


@pytest.mark.parametrize("body, headers, sentence", [
    (_huge_json, {}, "larger than 32 MB"),
    (_gzip_bomb, {"Content-Encoding": "gzip"}, "larger than 32 MB"),
    (lambda: b"[" * 100_000 + b"]" * 100_000, {}, "nested too deeply"),
    (lambda: b'[{"a":' * 50_000 + b"1" + b"}]" * 50_000, {}, "nested too deeply"),
], ids=["50 MB", "gzip bomb", "100k nested lists", "50k nested objects"])
def test_huge_or_deeply_nested_answers_fail_cleanly_under_a_memory_limit(trakt, admin_user, settings, body,
                                                                         headers, sentence):
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    trakt.inject("status", path=r"^/sync/history$", times=None, status=200, body=body(),
                 content_type="application/json", headers=headers)
    result = _backup_with_memory_limit(trakt, "alice")
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])  # not killed, no MemoryError
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and sentence in lines[0] and "Traceback" not in result.stderr, result.stderr[-2000:]
    backup = Backup.objects.get(account=account)
    assert backup.status == Backup.Status.FAILED and sentence in backup.error
    assert not _files_under(Path(settings.ARCHIVE_DIR)), "a failed backup left files"
    assert trakt.count(path_regex=r"^/sync/history$") == 1, "a hopeless answer was asked for again"


def test_a_hostile_list_name_is_shown_as_text(trakt, alice, tmp_path):
    account = connect_account(trakt, "alice-trakt", alice, profile="tiny")
    lists = trakt.user_data("alice-trakt")["/users/me/lists"]
    name = '<img src=x onerror="alert(1)"> {{ 7 }} `rm -rf`'
    trakt.inject("wrong_shape", path=r"^/users/me/lists$", times=None, value=[{**lists[0], "name": name}])
    backup = run_backup(account)
    assert backup.lists[str(lists[0]["ids"]["trakt"])]["name"] == name
    response = signed_in(alice).get("/")
    row = find(response, f"#backup-{backup.pk}")
    assert f"Items of list ‘{name}’" in [li.select("span")[0].text for li in row.select("details.counts .counted li")]
    assert not find_all(response, "main img") and not find_all(row, "code")  # text, not markup


@pytest.mark.parametrize("slug", ["../../oauth/token", "a/b?c=d", None])
def test_a_shared_lists_hostile_owner_slug_never_goes_into_a_request_path(trakt, alice, slug, tmp_path):
    account = connect_account(trakt, "alice-trakt", alice, profile="tiny")
    (shared,) = trakt.user_data("alice-trakt")["/users/me/lists/collaborations"]
    hostile = {**shared, "user": {**shared["user"], "ids": {**shared["user"]["ids"], "slug": slug}}}
    trakt.inject("wrong_shape", path=r"^/users/me/lists/collaborations$", times=None, value=[hostile])
    trakt.reset_log()
    backup = run_backup(account)
    assert backup.status == Backup.Status.SUCCESS  # the rest is backed up; that list's items cannot be read
    assert trakt.count(path_regex=r"^/users/(?!me/).*/items$") == 0 and trakt.count(path_regex=r"oauth") == 0
    _, files = read_archive(archive_copy(backup.archive_key, tmp_path))
    assert files["users/lists/collaborations.json"] == [hostile]
    assert not [member for member in files if member.startswith("users/lists/collaborations/")]
