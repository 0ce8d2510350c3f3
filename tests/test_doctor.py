"""The doctor (`manage.py doctor` and the staff page): all clear on a healthy installation, and each thing that
usually breaks reported in a sentence, against the real emulator misbehaving over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest
import requests
from django.conf import settings
from cryptography.fernet import Fernet
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django_q.models import Schedule

from backups import storage, tasks
from backups.models import Account, AppCredentials, Backup, WorkerHeartbeat
from backups.services import doctor, schedules
from backups.services.grants import ReconnectNeeded, ServiceError, refresh_grant, save_app_credentials
from tests.support import (CLIENT_SECRET, app_env, connect_account, find, find_all, manage, page_text, parse,
                           start_manage)

pytestmark = pytest.mark.django_db

ROOMY = 1 << 20  # the free space the tests ask for: the test machine's disk may hold less than the default


@pytest.fixture
def healthy(trakt, admin_user):
    """A connected account and a worker that has just checked in."""
    account = connect_account(trakt, "alice", admin_user)
    tasks.worker_heartbeat()
    trakt.reset_log()
    return account


def checks() -> dict[str, doctor.Result]:
    return {result.check: result for result in doctor.run_checks(min_free=ROOMY)}


def not_ok(results: dict[str, doctor.Result]) -> dict[str, str]:
    return {name: result.status for name, result in results.items() if result.status != doctor.OK}


# -- all clear -------------------------------------------------------------------------------------------------


def test_a_healthy_installation_is_all_clear_in_a_few_read_only_requests(trakt, healthy):
    started = time.monotonic()
    results = doctor.run_checks(min_free=ROOMY)
    took = time.monotonic() - started
    found = {r.check: r for r in results}
    assert not_ok(found) == {}, [r.sentence for r in results if r.status != doctor.OK]
    bucket = set() if storage.is_local() else {"archive_storage"}
    assert set(found) == {"database", "data_folder", "archive_folder", "worker", "app", f"account:{healthy.pk}",
                          "clock", "user_agent", "pagination", "page_limit", "token_lifetime"} | bucket
    assert doctor.summary(results) == f"All clear: {len(results)} checks passed."
    assert doctor.exit_code(results) == 0
    assert "trakt still clamps a page at 250 items" in found["page_limit"].sentence
    assert found["worker"].sentence.startswith("A worker checked in moments ago (on ")
    assert found["token_lifetime"].sentence == "alice's newest token was issued for 24 hours, as the app expects " \
                                               "(24 hours or 7 days)."
    # One request per question, nothing written to the account, no token spent: the device code is the app's.
    asked = [(r["host"], r["method"], r["path"]) for r in trakt.requests]
    assert sorted(asked) == [("api", "GET", "/"), ("api", "GET", "/sync/history"), ("api", "GET", "/users/settings"),
                             ("auth", "POST", "/oauth/device/code")]
    assert took < 5
    healthy.refresh_from_db()
    text = " ".join(r.sentence for r in results)
    assert healthy.access_token not in text and healthy.refresh_token not in text and CLIENT_SECRET not in text


# -- the machine -------------------------------------------------------------------------------------------------


def test_little_free_space_names_the_folder_and_what_is_free(trakt, healthy, settings):
    found = {r.check: r for r in doctor.run_checks(min_free=1 << 60)}
    assert not_ok(found) == {"data_folder": "warn", "archive_folder": "warn"}
    sentence = found["data_folder"].sentence
    assert sentence.startswith(f"The data folder {settings.DATA_DIR} (DATA_DIR) has only ") and " free of " in sentence


def test_an_archive_folder_that_is_a_file_fails_and_a_missing_one_is_made_later(trakt, healthy, settings, tmp_path):
    settings.ARCHIVE_DIR = tmp_path / "not-a-folder"
    settings.ARCHIVE_DIR.write_text("oops")
    found = checks()
    assert not_ok(found) == {"archive_folder": "fail"}
    assert "is not a folder: point ARCHIVE_DIR at one" in found["archive_folder"].sentence
    settings.ARCHIVE_DIR = tmp_path / "later" / "archives"
    found = checks()
    assert not_ok(found) == {}
    assert found["archive_folder"].sentence.startswith(f"The archive folder {settings.ARCHIVE_DIR} (ARCHIVE_DIR) "
                                                       f"can be written and has ")
    assert found["archive_folder"].sentence.endswith(f" free (the first backup makes it, in {tmp_path}).")


def test_unapplied_migrations_fail_with_the_command_to_run(trakt, healthy):
    MigrationRecorder.Migration.objects.filter(app="backups").latest("id").delete()  # as if the code were newer
    found = checks()
    assert found["database"].status == doctor.FAIL
    assert "1 of its migrations are not applied: run `python manage.py migrate`" in found["database"].sentence


def test_undecryptable_secrets_say_which_key_is_missing(trakt, healthy, settings):
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    found = checks()
    assert {found["app"].sentence, found["accounts"].sentence} == {doctor.KEY_MISMATCH}
    assert found["pagination"].status == doctor.WARN  # not asked without a token; the lines above say why


def test_a_bucket_that_does_not_answer_fails(trakt, healthy, settings):
    if storage.is_local():
        pytest.skip("archives are kept in a local folder on this pass (the services pass uses a bucket)")
    archives = settings.STORAGES["archives"]
    options = {**archives["OPTIONS"], "bucket_name": "no-such-bucket-here"}
    settings.STORAGES = {**settings.STORAGES, "archives": {**archives, "OPTIONS": options}}
    found = checks()
    assert not_ok(found) == {"archive_storage": "fail"}
    assert found["archive_storage"].sentence.startswith("The archive bucket s3://no-such-bucket-here/")


# -- the worker --------------------------------------------------------------------------------------------------


def test_no_worker_heartbeat_at_all_or_a_stale_one_fails(trakt, healthy):
    WorkerHeartbeat.objects.all().delete()
    found = checks()
    assert not_ok(found) == {"worker": "fail"}
    assert found["worker"].sentence.startswith("No worker has checked in yet: start `python manage.py qcluster` "
                                               "(or the worker container)")
    WorkerHeartbeat.objects.create(host="old-box", pid=1, seen=timezone.now() - timedelta(minutes=42, seconds=5))
    found = checks()
    assert found["worker"].sentence.startswith("No worker has checked in for 42 minutes: start `python manage.py "
                                               "qcluster` (or the worker container)")
    tasks.worker_heartbeat()
    assert checks()["worker"].status == doctor.OK
    assert WorkerHeartbeat.objects.count() == 2  # one row per host


def test_a_worker_busy_with_a_backup_is_alive(trakt, healthy):
    WorkerHeartbeat.objects.update(seen=timezone.now() - timedelta(hours=1))
    Backup.objects.create(account=healthy, status=Backup.Status.RUNNING, trigger=Backup.Trigger.SCHEDULE,
                          started=timezone.now(), heartbeat=timezone.now() - timedelta(seconds=20))
    found = checks()
    assert found["worker"].status == doctor.OK
    assert found["worker"].sentence.startswith("The worker is busy: the backup of alice is running")


def test_the_heartbeat_is_scheduled_beside_maintenance_once_and_keeps_no_task_rows(db):
    schedules.sync_all()
    schedules.sync_all()
    beat = Schedule.objects.get(name=schedules.HEARTBEAT_NAME)
    assert (beat.func, beat.schedule_type, beat.minutes) == ("backups.tasks.worker_heartbeat", Schedule.MINUTES, 5)
    assert beat.kwargs == "{'q_options': {'save': False}}"
    assert Schedule.objects.filter(name=schedules.MAINTENANCE_NAME).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_checks_in_and_the_doctor_sees_it(trakt, admin_user):
    connect_account(trakt, "alice", admin_user)
    schedules.sync_all()  # a transactional test starts on empty tables: the schedules migrate made are gone
    assert checks()["worker"].status == doctor.FAIL
    proc = start_manage("qcluster", env=app_env(trakt, Q_SYNC="0"), stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30  # a worker checks in as it starts (its schedule every 5 minutes after)
        while not WorkerHeartbeat.objects.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the worker never checked in"
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0
    found = checks()
    assert found["worker"].status == doctor.OK and found["worker"].sentence.startswith("A worker checked in ")


# -- the trakt app and the accounts --------------------------------------------------------------------------------


def test_app_not_set_up_or_unknown_to_trakt(trakt, healthy):
    save_app_credentials("someone-elses-client-id", "whatever-secret")
    found = checks()
    assert found["app"].status == doctor.FAIL
    assert found["app"].sentence.startswith("trakt does not know the app's Client ID (someone-…): copy the Client ID")
    assert "whatever-secret" not in " ".join(r.sentence for r in found.values())
    AppCredentials.objects.all().delete()
    found = checks()
    assert found["app"].sentence.startswith("The trakt API app is not set up yet")


def test_each_account_token_state_in_words(trakt, admin_user, healthy):
    bob = connect_account(trakt, "bob", admin_user)
    carol = connect_account(trakt, "carol", admin_user)
    trakt.revoke_grants("bob")
    with pytest.raises(ReconnectNeeded):
        refresh_grant(bob, force=True)
    trakt.inject("status", path=r"^/oauth/token$", status=503, times=None)
    with pytest.raises(ServiceError):
        refresh_grant(carol, force=True)
    Account.objects.filter(pk=carol.pk).update(token_expires_at=timezone.now() - timedelta(hours=3))
    Account.objects.filter(pk=healthy.pk).update(token_expires_at=timezone.now() + timedelta(hours=3, minutes=1))
    found = checks()
    alice, bob_line, carol_line = (found[f"account:{a.pk}"] for a in (healthy, bob, carol))
    assert (alice.status, bob_line.status, carol_line.status) == ("ok", "fail", "fail")
    assert alice.sentence == "alice's token expires in 3 hours; the hourly refresh check renews it before then."
    assert bob_line.sentence.startswith("bob must be connected again: trakt rejected the saved grant")
    assert "`python manage.py trakt_auth -u bob --device`" in bob_line.sentence
    assert carol_line.sentence.startswith("carol's token expired 3 hours ago and its last refresh failed (")
    trakt.clear_faults()
    Account.objects.filter(pk=carol.pk).update(token_expires_at=timezone.now() + timedelta(days=1))
    assert checks()[f"account:{carol.pk}"].sentence.startswith("The last refresh of carol's token failed (")
    Account.objects.filter(pk=healthy.pk).update(token_expires_at=timezone.now() - timedelta(minutes=30))
    assert checks()[f"account:{healthy.pk}"].sentence.startswith("alice's token expired 30 minutes ago: it is renewed")


def test_no_account_connected_yet_wants_a_look(trakt, db):
    tasks.worker_heartbeat()
    found = checks()
    assert not_ok(found) == {"accounts": "warn", "pagination": "warn"}
    assert "`python manage.py trakt_auth -u USER --device`" in found["accounts"].sentence
    assert "token_lifetime" not in found  # nothing issued yet to compare


# -- trakt changed ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset, status, words", [(-300, "warn", "5 minutes ahead of trakt's"),
                                                   (3 * 3600, "fail", "3 hours behind trakt's"),
                                                   (45, "ok", "agrees with trakt's")])
def test_a_wrong_clock_is_flagged(trakt, healthy, offset, status, words):
    trakt.date_offset = offset
    found = checks()
    assert (found["clock"].status, words in found["clock"].sentence) == (status, True)
    assert set(not_ok(found)) <= {"clock"}


def test_a_changed_page_cap_is_flagged(trakt, healthy):
    trakt.max_limit = 100
    found = checks()
    assert not_ok(found) == {"page_limit": "warn"}
    assert found["page_limit"].sentence == ("trakt changed: a page now holds at most 100 items, where the app asks for "
                                            "250. Backups still walk every page, with 2.5 times the requests.")
    trakt.max_limit = 5000
    assert checks()["page_limit"].sentence.startswith("trakt changed: a page may now hold 1000 or more items")


def test_a_missing_page_count_header_fails(trakt, healthy):
    trakt.inject("drop_headers", path=r"^/sync/history$", headers=["X-Pagination-Page-Count"])
    found = checks()
    assert not_ok(found) == {"pagination": "fail"}
    assert found["pagination"].sentence == ("trakt changed: a page of the history came without X-Pagination-Page-Count:"
                                            " backups would stop after the first page of every category, and miss "
                                            "the rest.")
    trakt.inject("drop_headers", path=r"^/sync/history$", headers=["X-Pagination-Item-Count"])
    assert not_ok(checks()) == {"pagination": "warn"}


def test_a_page_that_is_not_a_list_fails(trakt, healthy):
    trakt.inject("wrong_shape", path=r"^/sync/history$")
    found = checks()
    assert not_ok(found) == {"pagination": "fail"}
    assert "page_limit" not in found


def test_requests_without_a_user_agent_let_through_is_flagged(trakt, healthy):
    trakt.require_user_agent = False
    found = checks()
    assert not_ok(found) == {"user_agent": "warn"}
    assert found["user_agent"].sentence.startswith("trakt changed: a request without a User-Agent got 401 instead of")


@pytest.mark.parametrize("lifetime, words", [(3600, "60 minutes, where the app expects 24 hours or 7 days. The hourly"),
                                             (3 * 86400, "3 days, where the app expects 24 hours or 7 days. Refreshes"),
                                             (7 * 86400, "7 days, as the app expects")])
def test_a_changed_token_lifetime_is_flagged(trakt, healthy, lifetime, words):
    trakt.set_token_lifetime(lifetime)
    refresh_grant(healthy, force=True)  # as the hourly check would: the new token's lifetime is stored
    sentence = checks()["token_lifetime"].sentence
    assert f"alice's newest token was issued for {words}" in sentence
    assert sentence.startswith("trakt changed: ") == (lifetime != 7 * 86400)


def test_trakt_unreachable_is_one_line_and_quick(trakt, healthy, settings):
    trakt.inject("timeout", path=r"^/$", seconds=30)
    settings.TRAKT_TIMEOUT = 1  # the doctor's requests never wait longer than the app's own
    started = time.monotonic()
    found = checks()
    assert time.monotonic() - started < 5
    assert not_ok(found) == {"trakt_api": "fail"}
    assert found["trakt_api"].sentence.startswith(f"trakt's API at {trakt.api_url} could not be reached: trakt did "
                                                  "not answer within 1 seconds.")


def test_an_outage_in_one_answer_spares_the_others(trakt, healthy):
    trakt.inject("status", path=r"^/sync/history$", status=503)
    found = checks()
    assert not_ok(found) == {"pagination": "fail"}
    assert found["pagination"].sentence.startswith("trakt answered 503 to a read of alice's history")


def test_the_emulator_knobs_over_its_control_api(emulator):
    control = emulator.api_url + "/_emulator"
    assert requests.post(control + "/config", json={"date_offset": -120, "max_limit": 50,
                                                    "require_user_agent": False}).json()["max_limit"] == 50
    emulator.add_user("dave", profile="tiny")
    token = emulator.grant("dave")["access_token"]
    session = requests.Session()
    session.headers.update({"trakt-api-key": emulator.client_id, "trakt-api-version": "2",
                            "Authorization": f"Bearer {token}"})
    answer = session.get(emulator.api_url + "/sync/history", params={"limit": 1000})
    assert answer.headers["X-Pagination-Limit"] == "50"
    assert 110 <= time.time() - parsedate_to_datetime(answer.headers["Date"]).timestamp() <= 130
    assert requests.post(control + "/faults", json={"kind": "drop_headers", "path": "history"}).status_code == 201
    assert not any(name.startswith("X-Pagination") for name in session.get(emulator.api_url + "/sync/history").headers)


# -- the two doors ---------------------------------------------------------------------------------------------------


def test_the_staff_page_needs_staff_and_escapes_what_it_shows(trakt, healthy, admin_user, bob_client, charlie_client,
                                                               client):
    Account.objects.create(owner=admin_user, username="<script>alert(1)</script>", trakt_id="x",
                           status=Account.Status.NEEDS_RECONNECT, status_detail="<img src=x onerror=alert(2)>")
    assert bob_client.get("/staff/doctor/").status_code == 403
    assert client.get("/staff/doctor/")["Location"] == "/login/?next=/staff/doctor/"
    assert charlie_client.post("/staff/doctor/").status_code == 405
    page = charlie_client.get("/staff/doctor/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; must be connected again: &lt;img src=x onerror=alert(2)&gt;" in html
    rows = {row["data-check"]: row for row in find_all(page, "tr[data-check]")}
    assert set(rows) >= {"database", "worker", "clock", "pagination", "token_lifetime"}
    assert find(rows["worker"], ".badge").text == "OK" and "badge-fail" in html
    assert find(page, "#doctor-summary").text.startswith(f"1 failed (of {len(rows)} checks). Account "
                                                         "<script>alert(1)</script>: <script>alert(1)</script> must")
    assert find(page, "#doctor-summary").classes == {"message", "message-error"}
    assert [a["href"] for a in find_all(page, "nav a") if a.text == "Doctor"] == ["/staff/doctor/"]
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert not [e for e in parse(page).iter() if e.tag == "style" or "style" in e.attrs or (
        e.tag == "script" and "src" not in e.attrs)], "the page must satisfy the content security policy"
    assert "Doctor" not in page_text(bob_client.get("/"))


def test_the_staff_page_shows_code_as_code(trakt, healthy, charlie_client):
    WorkerHeartbeat.objects.all().delete()
    row = find(charlie_client.get("/staff/doctor/"), "tr[data-check=worker]")
    assert "python manage.py qcluster" in [code.text for code in row.select("code")]


@pytest.mark.django_db(transaction=True)
def test_the_command_says_all_clear_or_exits_non_zero_with_one_line(trakt, admin_user):
    connect_account(trakt, "alice", admin_user)
    tasks.worker_heartbeat()
    result = manage("doctor", "--min-free-mb", "1", emulator=trakt)
    assert (result.returncode, result.stderr) == (0, "")
    *lines, last = result.stdout.strip().splitlines()
    assert last == f"All clear: {len(lines)} checks passed."
    assert lines[0].startswith("ok    Database: The database (")
    trakt.date_offset = -600
    result = manage("doctor", "--min-free-mb", "1", emulator=trakt)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"CommandError: 1 to look at (of {len(lines)} checks). Clock: This machine's "
                                    "clock is 10 minutes ahead of trakt's")
    assert [line for line in result.stdout.splitlines() if not line.startswith("ok  ")] == [
        "warn  Clock: " + result.stderr.split("Clock: ", 1)[1].rstrip("\n")]
    WorkerHeartbeat.objects.all().delete()
    result = manage("doctor", "--min-free-mb", "1", emulator=trakt)
    assert result.returncode == 1
    assert result.stderr.startswith(f"CommandError: 1 failed, 1 to look at (of {len(lines)} checks). Worker: No "
                                    "worker has checked in yet")
    assert "FAIL  Worker: No worker has checked in yet" in result.stdout
    account = Account.objects.get()
    for secret in (account.access_token, account.refresh_token, CLIENT_SECRET):
        assert secret not in result.stdout + result.stderr


def test_a_database_that_does_not_answer_fails_and_the_rest_say_they_were_not_checked(emulator, tmp_path):
    missing = tmp_path / "no-such-folder" / "db.sqlite3"
    env = app_env(emulator, SQLITE_PATH=missing)
    env.pop("DATABASE_URL", None)  # the services pass's PostgreSQL: this test's database is a missing SQLite file
    result = manage("doctor", "--min-free-mb", "1", env=env)
    assert result.returncode == 1
    checks_run = 9 if settings.ARCHIVE_STORAGE == "s3" else 8  # the services pass checks its bucket too
    assert result.stderr.startswith(f"CommandError: 6 failed (of {checks_run} checks). Database: The database "
                                    f"(SQLite, {missing}) does not answer (unable to open database file): "
                                    "check DATABASE_URL")
    assert "FAIL  Worker: Not checked: the database did not answer (OperationalError)." in result.stdout
