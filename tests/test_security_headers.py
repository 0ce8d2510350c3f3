"""What a forged Host, a foreign `next`, a stranger's huge body or a shared computer's cache can get out of the
app: nothing. Absolute URLs come from SITE_URL, redirects stay on this site, /admin/ has a CSP it satisfies,
the data folder is the app user's alone, signed-in answers are never cached, anonymous bodies are small and
the version is for signed-in eyes only."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.test import Client

from backups import storage
from backups.models import Backup
from tests.support import PASSWORD, ROOT, connect_account, find, find_all, page_text
from tests.support.browser import BROWSER_TEST, sign_in

pytestmark = pytest.mark.django_db

SITE = "https://backup.example.com"
FORGED = "evil.example"
FOREIGN_NEXT = ["//evil.example/x", "http://evil.example/x", "/\\evil.example", "https:evil.example",
                "///evil.example/x", "\\\\evil.example", "/\t/evil.example", " //evil.example"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_stays_on_this_site(location: str) -> None:
    parts = urlsplit(location)
    assert location.startswith("/") and location[1:2] not in ("/", "\\"), location
    assert not parts.scheme and not parts.netloc and FORGED not in location, location


@pytest.fixture
def account(trakt, alice):
    return connect_account(trakt, "alice-trakt", alice)


@pytest.fixture
def backup(account, alice_client) -> Backup:
    alice_client.post(f"/accounts/{account.pk}/backup")
    backup = Backup.objects.get(account=account)
    assert backup.status == Backup.Status.SUCCESS
    return backup


# -- a forged Host ------------------------------------------------------------------------------------


def test_a_forged_host_never_reaches_the_setup_pages_callback_url(alice_client, settings):
    settings.SITE_URL = SITE
    response = alice_client.get("/setup/", HTTP_HOST=FORGED)
    assert response.status_code == 200
    assert find(response, "#redirect-uris").text.split() == [settings.TRAKT_OOB_REDIRECT_URI,
                                                             f"{SITE}/connect/callback"]
    assert FORGED not in response.content.decode()


def test_a_forged_host_never_reaches_the_redirect_flow(trakt, alice_client, settings):
    settings.SITE_URL = SITE
    page = alice_client.get("/connect/redirect/", HTTP_HOST=FORGED)
    assert FORGED not in page.content.decode() and f"{SITE}/connect/callback" in page_text(page)
    response = alice_client.post("/connect/redirect/", {"username": ""}, HTTP_HOST=FORGED)
    assert response.status_code == 302 and response["Location"].startswith(trakt.auth_url)
    assert parse_qs(urlsplit(response["Location"]).query)["redirect_uri"] == [f"{SITE}/connect/callback"]
    assert FORGED not in str(dict(alice_client.session))  # nor the redirect URI kept for the code exchange


def test_first_run_and_setup_say_to_pin_the_address_until_it_is(client, settings):
    note = find(client.get("/first-run/"), "#address-note")
    assert "SITE_URL and ALLOWED_HOSTS are not set" in note.text and "as soon as it is reachable by name" in note.text
    settings.SITE_URL, settings.ALLOWED_HOSTS = SITE, ["backup.example.com", "testserver"]
    assert not find_all(client.get("/first-run/"), "#address-note")


def test_the_setup_page_names_what_is_left_to_pin(alice_client, settings):
    settings.SITE_URL = SITE
    note = find(alice_client.get("/setup/"), "#address-note")
    assert "ALLOWED_HOSTS is not set" in note.text and "SITE_URL and" not in note.text
    settings.ALLOWED_HOSTS = ["backup.example.com", "testserver"]
    assert not find_all(alice_client.get("/setup/", HTTP_HOST="backup.example.com"), "#address-note")


# -- `next` never leaves the site -------------------------------------------------------------------


@pytest.mark.parametrize("target", FOREIGN_NEXT)
def test_signing_in_never_follows_a_foreign_next(alice, target):
    client = Client(HTTP_HOST=FORGED)  # the forged Host makes Django's own check accept http://evil.example/
    page = client.get("/login/", {"next": target})
    assert find(page, "input[name=next]").get("value", "") == ""
    response = client.post("/login/", {"username": "alice", "password": PASSWORD, "next": target})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/login/", {"next": target})["Location"] == "/"  # signed in already: redirect_authenticated_user


@pytest.mark.parametrize("target", FOREIGN_NEXT)
def test_the_admin_login_and_both_logouts_never_follow_a_foreign_next(alice, target):
    client = Client(HTTP_HOST=FORGED)
    response = client.post("/admin/login/?next=" + target, {"username": "alice", "password": PASSWORD,
                                                            "next": target})
    assert response.status_code == 302
    assert_stays_on_this_site(response["Location"])
    response = client.post("/admin/logout/", {"next": target})
    assert response.status_code in (200, 302) and FORGED not in response.get("Location", "")
    client.force_login(alice)
    response = client.post("/logout/", {"next": target})
    assert response.status_code == 302 and response["Location"] == "/login/"


@pytest.mark.parametrize("target", FOREIGN_NEXT)
def test_an_accounts_forms_never_follow_a_foreign_next(account, alice_client, target):
    response = alice_client.post(f"/accounts/{account.pk}/verify", {"next": target}, HTTP_HOST=FORGED)
    assert response.status_code == 302 and response["Location"] == f"/#account-{account.pk}"


def test_a_path_of_this_site_is_followed(account, alice):
    client = Client()
    response = client.post("/login/", {"username": "alice", "password": PASSWORD, "next": "/setup/?step=2"})
    assert response["Location"] == "/setup/?step=2"
    back = client.post(f"/accounts/{account.pk}/verify", {"next": f"/accounts/{account.pk}/?page=2"})
    assert back["Location"] == f"/accounts/{account.pk}/?page=2"


# -- the admin's content security policy -------------------------------------------------------------


def test_admin_pages_carry_a_strict_csp(alice_client, client):
    for response in (alice_client.get("/admin/"), alice_client.get("/admin/backups/account/"),
                     client.get("/admin/login/")):
        assert response.status_code == 200
        policy = response["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "style-src 'self';" in policy
        assert "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy
        assert "form-action 'self';" in policy  # the admin's forms post to itself only


def _browser_test(test):
    for mark in reversed(BROWSER_TEST):
        test = mark(test)
    return test


@_browser_test
def test_the_admin_works_in_a_browser_under_its_csp(page, alice):
    """Every script and style the admin needs is its own file: its widgets come alive, and the `page` fixture
    fails the test on any "Refused to ..." of the CSP (an inline script, style or style attribute)."""
    sign_in(page, "alice")
    for path in ("/admin/", "/admin/backups/account/", "/admin/backups/appcredentials/add/",
                 "/admin/axes/accessattempt/"):
        response = page.goto(path)
        assert response.status == 200 and "content-security-policy" in response.headers, path
    page.goto("/admin/django_q/schedule/add/")  # the date and time widgets: DateTimeShortcuts.js
    page.wait_for_selector(".datetimeshortcuts a")
    page.goto(f"/admin/auth/user/{alice.pk}/change/")  # the permissions' two-box filter: SelectFilter2.js
    page.wait_for_selector(".selector-available")
    page.click("#toggle-nav-sidebar")  # nav_sidebar.js
    page.goto("/admin/")
    page.click("a:has-text('Log out'), button:has-text('Log out')")
    page.wait_for_url("**/login/")


# -- the data folder is the app user's alone ----------------------------------------------------------


def _fresh_start(data: Path) -> subprocess.CompletedProcess:
    """The image's entrypoint (keys, migrations, the archive folder) on DATA_DIR, under the common umask 022."""
    env = {name: os.environ[name] for name in ("HOME", "LANG", "TMPDIR") if name in os.environ}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
               DATA_DIR=str(data), STATIC_MANIFEST="false", PYTHONUNBUFFERED="1")
    return subprocess.run([str(ROOT / "docker" / "entrypoint.sh"), "true"], env=env, capture_output=True, text=True,
                          timeout=180, umask=0o022)


def test_a_fresh_data_folder_its_database_and_keys_are_private(tmp_path):
    data = tmp_path / "srv" / "data"  # its parent is created too
    result = _fresh_start(data)
    assert result.returncode == 0, result.stderr
    assert "backups.W001" not in result.stderr
    assert (mode(data.parent), mode(data), mode(data / "archives")) == (0o700, 0o700, 0o700)
    database = data / "db.sqlite3"
    assert database.stat().st_size > 0, "SQLite filled the file the settings created"
    for path in (database, data / "db.sqlite3-wal", data / "db.sqlite3-shm", data / "secret.key",
                 data / "encryption.key"):
        if path.exists() or path == database:
            assert mode(path) == 0o600, path


def test_an_open_data_folder_is_named_at_every_start(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    result = _fresh_start(data)
    assert result.returncode == 0, result.stderr
    assert "backups.W001" in result.stderr and f"chmod 700 {data}" in result.stderr
    assert mode(data) == 0o755, "the operator's folder is warned about, never changed"


def test_the_system_check_warns_on_a_folder_others_can_read(tmp_path, settings):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    for open_mode, warned in ((0o755, True), (0o750, True), (0o701, True), (0o700, False)):
        settings.DATA_DIR.chmod(open_mode)
        found = [w for w in run_checks() if w.id == "backups.W001"]
        assert bool(found) == warned, oct(open_mode)
    settings.DATA_DIR.chmod(0o755)
    (warning,) = [w for w in run_checks() if w.id == "backups.W001"]
    assert warning.msg == (f"The data folder {settings.DATA_DIR} is open to other users of this machine (mode 0755), "
                           f"and it holds the database, the keys and the archives: run `chmod 700 {settings.DATA_DIR}`.")


@pytest.fixture
def common_umask():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_archive_and_its_folders_are_private(common_umask, trakt, settings, account, alice_client):
    if not storage.is_local():
        pytest.skip("archives are in a bucket: the local copy is removed once uploaded")
    assert not Path(settings.ARCHIVE_DIR).exists()  # the `trakt` fixture's: this backup creates it
    alice_client.post(f"/accounts/{account.pk}/backup")
    archive = storage.local_path(Backup.objects.get(account=account, status=Backup.Status.SUCCESS).archive_key)
    assert archive.parent.parent == Path(settings.ARCHIVE_DIR)
    assert (mode(archive), mode(archive.parent), mode(archive.parent.parent)) == (0o600, 0o700, 0o700)


# -- nothing a signed-in user sees is cached ---------------------------------------------------------------


def test_every_signed_in_answer_is_no_store(backup, alice_client, settings):
    settings.S3_REDIRECT_DOWNLOADS = False
    account = backup.account
    for path in ("/", f"/accounts/{account.pk}/", f"/accounts/{account.pk}/events/", f"/backups/{backup.pk}/status",
                 f"/backups/{backup.pk}/download", f"/backups/{backup.pk}/restore/", "/import/", "/setup/",
                 "/connect/device/", "/admin/", "/admin/backups/backup/"):
        response = alice_client.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response["Cache-Control"], path
    assert "no-store" in alice_client.post(f"/accounts/{account.pk}/verify")["Cache-Control"]  # a redirect too


def test_signing_in_is_no_store_and_static_files_stay_cacheable(alice, alice_client):
    response = Client().post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and "no-store" in response["Cache-Control"]
    static = alice_client.get("/static/css/app.css")
    assert static.status_code == 200 and "no-store" not in static.get("Cache-Control", "")


# -- an anonymous body is small -------------------------------------------------------------------------


class NeverRead:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body of an anonymous request was read")

    readline = read


def test_an_anonymous_body_over_the_limit_is_refused_unread(admin_user, settings):
    for length in (settings.ANONYMOUS_MAX_BODY + 1, 300 * 1024 * 1024):
        response = Client().generic("POST", "/login/", b"", content_type="multipart/form-data; boundary=x",
                                    CONTENT_LENGTH=str(length), **{"wsgi.input": NeverRead()})
        assert response.status_code == 413
        assert "ANONYMOUS_MAX_BODY" in response.content.decode()
    ok = Client().post("/login/", {"username": "admin", "password": PASSWORD, "pad": "x" * 1000})
    assert ok.status_code == 302  # a form of normal size still signs in


def test_signed_in_users_keep_djangos_limits(alice_client, settings):
    settings.ANONYMOUS_MAX_BODY = 1024
    big = {"client_id": "x" * 5000, "client_secret": "y"}  # over the anonymous limit, under Django's 2.5 MB
    response = alice_client.post("/setup/", big)
    assert response.status_code == 200 and "at most 200 characters" in page_text(response)


@pytest.mark.django_db(transaction=True)
def test_a_300_mb_anonymous_upload_gets_413_before_its_body_is_sent(live_server, admin_user):
    """Over a real socket: the answer comes while almost all of the announced body is still unsent, so
    nothing waited for it (reading it would wait, and the answer would never come). With a CSRF cookie, as
    anyone gets from the sign-in page: without one Django refuses the POST before it reads the form."""
    host, port = urlsplit(live_server.url).hostname, urlsplit(live_server.url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"POST /login/ HTTP/1.1\r\nHost: %s:%d\r\nCookie: %s=%s\r\n"
                     b"Content-Type: multipart/form-data; boundary=----x\r\nContent-Length: %d\r\n\r\n"
                     % (host.encode(), port, settings.CSRF_COOKIE_NAME.encode(), b"a" * 32, 300 * 1024 * 1024))
        sock.sendall(b"------x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\n" + b"a" * 4096)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection without an answer"
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


# -- the version is for signed-in eyes -----------------------------------------------------------------


def test_the_version_is_shown_to_signed_in_users_only(alice, alice_client):
    anonymous = Client().get("/login/")
    assert anonymous.status_code == 200 and settings.VERSION not in anonymous.content.decode()
    assert page_text(anonymous).count("trakt-backup ·") == 1  # the footer, without a version
    assert f"trakt-backup {settings.VERSION}" in page_text(alice_client.get("/"))
