"""First run, signing in and out, and the throttle on failed sign-ins (in parallel and behind a proxy:
test_login_throttle.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.conf import settings
from django.test import Client

from tests.support import PASSWORD, page_text

pytestmark = pytest.mark.django_db

User = get_user_model()
LIMIT = settings.AXES_FAILURE_LIMIT


def test_every_page_leads_to_the_first_user_form_while_nobody_exists(client):
    for path in ["/", "/login/", "/setup/", "/connect/device/", "/accounts/1/", "/backups/1/download", "/admin/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == "/first-run/", path
    assert client.get("/health").status_code == 200
    assert client.get("/static/css/app.css").status_code == 200
    page = client.get("/first-run/")
    assert page.status_code == 200
    assert "Create the admin account" in page_text(page)


def test_first_user_becomes_the_admin_and_the_form_is_gone_for_good(client):
    response = client.post("/first-run/", {
        "username": "root", "email": "", "password1": PASSWORD, "password2": PASSWORD,
    })
    assert response.status_code == 302 and response["Location"] == "/setup/"
    user = User.objects.get()
    assert user.username == "root" and user.is_superuser and user.is_staff
    assert client.get("/setup/").status_code == 200  # signed in already

    assert client.get("/first-run/").status_code == 404
    anonymous = Client()
    assert anonymous.get("/first-run/").status_code == 404
    assert anonymous.post("/first-run/", {
        "username": "intruder", "password1": PASSWORD, "password2": PASSWORD,
    }).status_code == 404
    assert User.objects.count() == 1
    assert anonymous.get("/")["Location"].startswith("/login/")


def test_first_user_form_explains_its_errors(client):
    response = client.post("/first-run/", {"username": "root", "password1": "short", "password2": "other"})
    assert response.status_code == 200
    assert "The two password fields didn’t match." in page_text(response)
    assert not User.objects.exists()


def test_pages_need_a_login(alice):
    client = Client()
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/"


def test_login_and_logout(alice):
    client = Client()
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/logout/").status_code == 405  # signing out is a POST
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_repeated_failed_logins_are_throttled(alice):
    client = Client()
    for _ in range(LIMIT - 1):
        response = client.post("/login/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 200
        assert "Please enter a correct username and password" in page_text(response)
    # the last failure allowed locks the pair, and then even the right password is refused, with a sentence
    for password in ("wrong", PASSWORD):
        response = client.post("/login/", {"username": "alice", "password": password})
        assert response.status_code == 429
        assert "Too many failed sign-ins for alice from your address. Wait 15 minutes" in page_text(response)
    assert client.get("/").status_code == 302
    # another address is not locked out, nor another username from this address
    assert Client(REMOTE_ADDR="10.0.0.9").post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    bob = User.objects.create_user("bob", password=PASSWORD)
    assert client.post("/login/", {"username": bob.username, "password": PASSWORD}).status_code == 302


def test_variants_of_a_username_share_its_count(alice):
    for username in ("ALICE", "Alice", "ａｌｉｃｅ", "alice", "aLiCe"):  # full-width too
        Client().post("/login/", {"username": username, "password": "wrong"})  # a new "process" each time
    response = Client().post("/login/", {"username": "alice", "password": PASSWORD})
    assert "Too many failed sign-ins" in page_text(response)


def test_a_success_resets_the_count(alice):
    client = Client()
    for _ in range(LIMIT - 1):
        client.post("/login/", {"username": "alice", "password": "wrong"})
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    client.post("/logout/")
    for _ in range(LIMIT - 1):
        client.post("/login/", {"username": "alice", "password": "wrong"})
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


def test_the_admin_login_is_throttled_too_and_lists_the_lockouts(alice, admin_user):
    client = Client()
    for _ in range(LIMIT):
        client.post("/admin/login/", {"username": "alice", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429 and "Too many failed sign-ins" in page_text(response)
    staff = Client()
    staff.force_login(admin_user)
    lockouts = staff.get("/admin/axes/accessattempt/")
    assert lockouts.status_code == 200 and "alice" in page_text(lockouts)


def test_the_favicon_is_the_apps_icon_before_anyone_signs_in(client, alice):
    response = client.get("/favicon.ico", follow=True)
    assert (response.status_code, response.redirect_chain[0][1], response["Content-Type"]) == (
        200, 301, "image/svg+xml")
