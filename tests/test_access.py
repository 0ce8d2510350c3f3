"""Who may open what: every URL that names an object, staff-only pages, CSRF on every POST, the CSP."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from backups import urls
from backups.models import Account, AppCredentials, Backup, Restore
from tests.support import page_text, parse
from tests.support.factories import grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects(alice):
    """alice's account with one finished backup; no trakt needed to look at them."""
    AppCredentials.objects.create(client_id="cid", client_secret="secret")
    account = Account.objects.create(owner=alice, username="alice-trakt", trakt_id="1", access_token="a",
                                     refresh_token="r", token_expires_at=timezone.now() + timezone.timedelta(days=1))
    backup = Backup.objects.create(account=account, status=Backup.Status.SUCCESS, archive_name="b.tar.gz", size=1,
                                   started=timezone.now(), finished=timezone.now())
    Restore.objects.create(account=account, archive_backup=backup, status=Restore.Status.PLANNED, dry_run=True,
                           categories={"sync/history": {"label": "Watch history", "missing": 1}})
    return account, backup


# (method, url name, which object, data); "read" URLs are open to staff, the others to the owner only
READ = [
    ("get", "account_detail", "account", None),
    ("get", "account_events", "account", None),
    ("get", "backup_download", "backup", None),
    ("get", "backup_export", "backup", None),
    ("get", "backup_browse", "backup", None),
    ("get", "backup_browse_section", "backup", None),
    ("get", "backup_compare", "backup", None),
    ("get", "backup_charts", "backup", None),
    ("get", "backup_status", "backup", None),
]
OWNER_ONLY = [
    ("get", "account_disconnect", "account", None),
    ("post", "account_disconnect", "account", {"archives": "delete"}),
    ("post", "backup_now", "account", {}),
    ("post", "account_schedule", "account", {"cron": "0 3 * * *"}),
    ("post", "account_verify", "account", {}),
    ("get", "restore_start", "backup", None),
    ("post", "restore_start", "backup", {}),
    ("get", "restore_detail", "restore", None),
    ("get", "restore_status", "restore", None),
    ("post", "restore_apply", "restore", {"category": "sync/history"}),
]
NAMED = READ + OWNER_ONLY
# URLs that name no object: (method, url name, data)
PLAIN_POSTS = [
    ("first_run", {"username": "x", "password1": "p", "password2": "p"}),
    ("login", {"username": "alice", "password": "x"}),
    ("logout", {}),
    ("app_setup", {"client_id": "a", "client_secret": "b"}),
    ("connect_device_start", {"username": ""}),
    ("connect_device_poll", {}),
    ("connect_pin", {"code": "abc", "username": ""}),
    ("connect_redirect", {"username": ""}),
    ("import_export", {"username": "alice-trakt"}),
    ("api_tokens", {"name": "x"}),
    ("api_token_revoke", {"token": "1"}),
]
PLAIN_GETS = ["dashboard", "health", "first_run", "login", "app_setup", "connect", "connect_device", "connect_pin",
              "connect_redirect", "oauth_callback", "favicon", "doctor", "import_export", "api_tokens",
              "metrics"]  # its own access: tests/test_metrics.py


MORE_ARGS = {"backup_export": ["csv"], "backup_browse_section": ["ratings"]}  # a URL's arguments after the object's id


def url(name: str, which: str | None, objects) -> str:
    from django.urls import reverse

    if which is None:
        return reverse(name)
    account, backup = objects
    target = {"account": account, "backup": backup}.get(which) or Restore.objects.get(account=account)
    return reverse(name, args=[target.pk, *MORE_ARGS.get(name, [])])


def test_every_url_is_covered_here():
    names = {p.name for p in urls.urlpatterns}
    covered = {n for _, n, _, _ in NAMED} | {n for n, _ in PLAIN_POSTS} | set(PLAIN_GETS)
    assert names == covered, "add the new URL to the access tests"


def assert_readable(response, name: str) -> None:
    """What a reader gets from a READ URL: the page, or for the download (whose file this test never wrote)
    a 404 page that says the archive cannot be downloaded."""
    if name in ("backup_download", "backup_export", "backup_browse", "backup_browse_section", "backup_charts"):
        assert response.status_code == 404 and "This archive cannot be downloaded" in page_text(response)
    else:
        assert response.status_code == 200, name


def assert_unchanged(objects):
    account, backup = objects
    account.refresh_from_db()
    assert account.is_connected and account.backup_cron == ""
    assert list(Backup.objects.values_list("pk", flat=True)) == [backup.pk]
    assert Restore.objects.count() == 1  # no restore was started


@pytest.mark.parametrize("method, name, which, data", NAMED)
def test_another_user_gets_404(objects, bob_client, method, name, which, data):
    response = getattr(bob_client, method)(url(name, which, objects), data)
    assert response.status_code == 404
    assert "alice-trakt" not in response.content.decode()
    assert_unchanged(objects)


@pytest.mark.parametrize("method, name, which, data", NAMED)
def test_no_login_redirects_to_login(objects, method, name, which, data):
    target = url(name, which, objects)
    response = getattr(Client(), method)(target, data)
    assert response.status_code == 302 and response["Location"] == f"/login/?next={target}"
    assert_unchanged(objects)


@pytest.mark.parametrize("method, name, which, data", READ)
def test_staff_with_the_permission_may_read_any_account(objects, charlie, charlie_client, method, name, which, data):
    grant(charlie, "view_all_archives")
    assert_readable(getattr(charlie_client, method)(url(name, which, objects), data), name)


@pytest.mark.parametrize("method, name, which, data", READ)
def test_staff_without_the_permission_may_not_read_other_accounts(objects, charlie_client, method, name, which,
                                                                  data):
    response = getattr(charlie_client, method)(url(name, which, objects), data)
    assert response.status_code == 403 and "Can read and download every user" in response.content.decode()
    assert "alice-trakt" not in response.content.decode()


def test_the_setup_page_asks_for_the_permission_the_admin_asks_for(objects, charlie, charlie_client, alice_client):
    assert charlie_client.get("/setup/").status_code == 403  # staff, but not allowed to change the credentials
    assert charlie_client.post("/setup/", {"client_id": "new", "client_secret": "new"}).status_code == 403
    assert charlie_client.get("/admin/backups/appcredentials/").status_code == 403  # as the admin says
    assert AppCredentials.current().client_id == "cid"
    grant(charlie, "change_appcredentials")
    assert charlie_client.get("/setup/").status_code == 200
    assert alice_client.get("/setup/").status_code == 200  # a superuser


@pytest.mark.parametrize("method, name, which, data", OWNER_ONLY)
def test_staff_may_not_change_someone_elses_account(objects, charlie_client, method, name, which, data):
    assert getattr(charlie_client, method)(url(name, which, objects), data).status_code == 404
    assert_unchanged(objects)


def test_the_owner_may(objects, alice_client):
    for method, name, which, data in READ + OWNER_ONLY[:1]:
        assert_readable(getattr(alice_client, method)(url(name, which, objects), data), name)


def test_staff_only_pages_refuse_plain_users(objects, bob_client):
    assert bob_client.get("/setup/").status_code == 403
    assert bob_client.post("/setup/", {"client_id": "new", "client_secret": "new"}).status_code == 403
    assert AppCredentials.current().client_id == "cid"
    assert bob_client.get("/admin/").status_code == 302  # Django's admin sends non-staff to its login


@pytest.mark.parametrize("name, data", PLAIN_POSTS)
def test_posts_without_csrf_token_are_refused(objects, alice, name, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(url(name, None, objects), data)
    assert response.status_code == 403
    assert "This form could not be checked" in page_text(response)


@pytest.mark.parametrize("method, name, which, data", [n for n in OWNER_ONLY if n[0] == "post"])
def test_object_posts_without_csrf_token_are_refused(objects, alice, method, name, which, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(url(name, which, objects), data).status_code == 403
    assert_unchanged(objects)


def test_posts_with_the_token_in_a_header_pass(objects, alice):
    """What the page's scripts do: the CSRF cookie's value in X-CSRFToken."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = client.post("/connect/device/poll", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["state"] == "invalid"


@pytest.mark.parametrize("path", ["/", "/login/", "/setup/", "/connect/device/", "/connect/pin/", "/connect/redirect/",
                                  "/accounts/{account}/", "/accounts/{account}/events/",
                                  "/accounts/{account}/disconnect/", "/backups/{backup}/restore/",
                                  "/restores/{restore}/", "/staff/doctor/", "/import/", "/no-such-page/"])
def test_pages_satisfy_the_content_security_policy(objects, alice_client, path):
    account, backup = objects
    client = Client() if path == "/login/" else alice_client
    restore = Restore.objects.get(account=account)
    response = client.get(path.format(account=account.pk, backup=backup.pk, restore=restore.pk))
    assert response.status_code == (404 if path == "/no-such-page/" else 200)
    assert "script-src 'self'" in response["Content-Security-Policy"]
    document = parse(response)
    elements = list(document.iter())
    assert not [e for e in elements if e.tag == "script" and "src" not in e.attrs], "inline script"
    assert not [e for e in elements if e.tag == "style" or "style" in e.attrs], "inline style"
    assert not [e for e in elements if any(name.startswith("on") for name in e.attrs)], "inline event handler"
    assets = [e.get("src") or e.get("href") for e in elements if e.tag in ("script", "img", "link", "iframe")]
    assert assets and all(a.startswith("/static/") for a in assets), "every asset is served by this installation"


def test_error_pages_say_what_happened_and_what_to_do(rf):
    from django.views import defaults

    text = page_text(defaults.server_error(rf.get("/")))
    assert "Something went wrong on the server" in text and "Try again" in text
    assert "Nothing was changed" in page_text(defaults.bad_request(rf.get("/"), Exception()))
