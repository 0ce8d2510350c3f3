"""Connecting a trakt account from the browser: device code, PIN code and redirect, against the emulator."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from backups.models import Account, AppCredentials, AuthEvent
from tests.support import find, find_all, page_text, parse
from tests.support.factories import session_value, set_session_value

pytestmark = pytest.mark.django_db

OOB = "urn:ietf:wg:oauth:2.0:oob"


# -- device code --------------------------------------------------------------------------


def start_device(client, trakt, username: str = "") -> dict:
    trakt.device_interval = 1
    response = client.post("/connect/device/start", {"username": username})
    assert response.status_code == 302 and response["Location"] == "/connect/device/"
    return session_value(client, "device_login")


def poll(client, trakt=None, *, interval_passed: bool = True) -> dict:
    """One poll from the page; by default as if the browser had waited the interval (here and at trakt)."""
    if interval_passed:
        if trakt is not None:
            trakt.advance_clock(1)
        set_session_value(client, "device_login", {**session_value(client, "device_login"), "next_poll": 0})
    response = client.post("/connect/device/poll")
    assert response.status_code == 200
    return response.json()


def device_polls(trakt) -> int:
    return trakt.count(r"^/oauth/device/token$")


def test_device_page_shows_code_url_and_qr(trakt, alice_client):
    assert find(alice_client.get("/connect/device/"), "#device-start").text == "Get a code"
    device = start_device(alice_client, trakt)
    response = alice_client.get("/connect/device/")
    assert find(response, "#user-code").text == device["user_code"]
    assert find(response, "#verification-url")["href"] == f"{trakt.auth_url}/activate"
    qr = find(response, "figure.qr svg")  # the QR code, inline and server-made
    assert "segno" in qr.classes and "viewbox" in qr.attrs  # the parser lowers attribute names
    section = find(response, "section#device")
    assert (section["data-interval"], section["data-poll-url"]) == ("1", "/connect/device/poll")
    elements = list(parse(response).iter())  # the CSP allows neither inline scripts nor inline styles
    assert not [e for e in elements if (e.tag == "script" and "src" not in e.attrs) or "style" in e.attrs]


def test_device_approved_connects_the_account_for_the_signed_in_user(trakt, alice, alice_client):
    trakt.add_user("alice-trakt", profile="tiny")
    device = start_device(alice_client, trakt)
    assert poll(alice_client, trakt)["state"] == "pending"
    trakt.approve_device(device["user_code"], "alice-trakt")
    result = poll(alice_client, trakt)
    assert result["state"] == "connected" and result["done"]
    account = Account.objects.get()
    assert result["redirect"] == f"/#account-{account.pk}"
    assert account.username == "alice-trakt" and account.owner == alice and account.is_connected
    assert account.auth_events.filter(kind=AuthEvent.Kind.DEVICE, ok=True).exists()
    assert "device_login" not in alice_client.session
    assert "Connected the trakt account alice-trakt" in find(alice_client.get("/"), ".messages").text


def test_poll_endpoint_never_polls_trakt_faster_than_the_interval(trakt, alice_client):
    start_device(alice_client, trakt)
    result = poll(alice_client, interval_passed=False)  # right after the start: too early
    assert result["state"] == "wait" and 0 < result["wait"] <= 1
    assert device_polls(trakt) == 0
    assert poll(alice_client, trakt)["state"] == "pending"
    assert device_polls(trakt) == 1
    for _ in range(3):  # a page (or a script) hammering the endpoint
        assert poll(alice_client, interval_passed=False)["state"] == "wait"
    assert device_polls(trakt) == 1


def test_slow_down_increases_the_interval(trakt, alice_client):
    start_device(alice_client, trakt)
    assert poll(alice_client)["state"] == "pending"
    result = poll(alice_client)  # forced at once: trakt answers 429
    assert result["state"] == "slow_down" and not result["done"]
    assert result["interval"] == 6 and "more slowly" in result["message"]
    assert session_value(alice_client, "device_login")["interval"] == 6
    assert poll(alice_client, interval_passed=False)["state"] == "wait"


def test_device_denied(trakt, alice_client):
    device = start_device(alice_client, trakt)
    trakt.deny_device(device["user_code"])
    result = poll(alice_client)
    assert result == {"state": "denied", "done": True,
                      "message": "The request was denied at trakt. Start again if that was a mistake."}
    assert not Account.objects.exists()
    assert "device_login" not in alice_client.session


def test_device_expired_at_trakt(trakt, alice_client):
    start_device(alice_client, trakt)
    trakt.advance_clock(601)
    result = poll(alice_client)
    assert result["state"] == "expired" and result["done"]
    assert "expired before it was approved" in result["message"]
    assert not Account.objects.exists()


def test_device_expired_here_is_not_polled(trakt, alice_client):
    start_device(alice_client, trakt)
    set_session_value(alice_client, "device_login",
                      {**session_value(alice_client, "device_login"), "expires_at": 0})
    page = page_text(alice_client.get("/connect/device/"))
    assert "The code expired before it was approved. Start again" in page
    assert "Get a code" in page
    assert poll_without_session(alice_client)["state"] == "invalid"
    assert device_polls(trakt) == 0


def poll_without_session(client) -> dict:
    return client.post("/connect/device/poll").json()


def test_device_code_unknown_or_used(trakt, alice_client):
    trakt.add_user("alice-trakt", profile="tiny")
    device = start_device(alice_client, trakt)
    trakt.approve_device(device["user_code"], "alice-trakt")
    assert poll(alice_client)["state"] == "connected"
    set_session_value(alice_client, "device_login", device)  # the same code, polled again
    result = poll(alice_client)
    assert result["state"] == "used" and "used already" in result["message"]
    set_session_value(alice_client, "device_login", {**device, "device_code": "not-a-code"})
    result = poll(alice_client)
    assert result["state"] == "invalid" and "does not know this code" in result["message"]
    assert Account.objects.count() == 1


def test_device_code_for_another_trakt_account_is_refused(trakt, alice_client):
    trakt.add_user("alice-trakt", profile="tiny")
    device = start_device(alice_client, trakt, username="someone-else")
    trakt.approve_device(device["user_code"], "alice-trakt")
    result = poll(alice_client)
    assert result["state"] == "error" and result["done"]
    assert "belongs to the trakt account alice-trakt, not someone-else" in result["message"]
    assert not Account.objects.exists()


def test_device_start_when_trakt_is_unreachable(trakt, alice_client):
    trakt.stop()
    response = alice_client.post("/connect/device/start", {"username": ""})
    assert response.status_code == 200
    page = page_text(response)
    assert "The device login could not be started" in page and "try again" in page
    assert "device_login" not in alice_client.session


def test_device_poll_when_trakt_is_unreachable(trakt, alice_client):
    start_device(alice_client, trakt)
    trakt.inject("reset", path=r"^/oauth/device/token$", times=None)
    result = poll(alice_client)
    # a passing outage: the code is still good, so the page says so and keeps waiting
    assert result["state"] == "unreachable" and not result["done"]
    assert "cannot be reached" in result["message"] and "still waiting" in result["message"]
    assert not Account.objects.exists()


# -- the app is not set up yet --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/connect/device/", "/connect/pin/", "/connect/redirect/", "/"])
def test_connect_pages_say_the_app_is_not_set_up(path, alice_client, bob_client):
    response = alice_client.get(path)
    assert "The trakt app is not set up yet" in page_text(response) and find_all(response, "main a[href=/setup/]")
    response = bob_client.get(path)
    assert "The trakt app is not set up yet" in page_text(response) and "Ask your admin" in page_text(response)
    assert not find_all(response, "a[href=/setup/]")


def test_nothing_is_stored_when_the_app_is_not_set_up(db, alice_client):
    response = alice_client.post("/connect/device/start", {"username": ""})
    assert "The trakt app is not set up yet" in page_text(response)
    assert "device_login" not in alice_client.session
    response = alice_client.post("/connect/pin/", {"code": "abc", "username": ""})
    assert "The trakt app is not set up yet" in page_text(response)
    response = alice_client.post("/connect/redirect/", {"username": ""})
    assert response.status_code == 200 and "oauth_redirect" not in alice_client.session
    assert not Account.objects.exists() and not AppCredentials.objects.exists()


# -- PIN / out-of-band code -------------------------------------------------------------------


def test_pin_page_links_to_trakts_authorize_page(trakt, alice_client):
    url = find(alice_client.get("/connect/pin/"), "#authorize-link")["href"]
    assert url.startswith(trakt.auth_url + "/oauth/authorize?")
    query = parse_qs(urlparse(url).query)
    assert query["redirect_uri"] == [OOB] and query["response_type"] == ["code"]
    assert query["client_id"] == [AppCredentials.current().client_id] and query["state"][0]


def test_pin_code_connects(trakt, alice, alice_client):
    trakt.add_user("alice-trakt", profile="tiny")
    code = trakt.issue_code("alice-trakt", redirect_uri=OOB)
    response = alice_client.post("/connect/pin/", {"code": f"  {code} ", "username": "Alice-Trakt"})
    account = Account.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/#account-{account.pk}"
    assert account.owner == alice and account.username == "alice-trakt"
    assert account.auth_events.filter(kind=AuthEvent.Kind.EXCHANGE, ok=True).count() == 1


def test_reconnecting_updates_the_same_account(trakt, alice_client):
    trakt.add_user("alice-trakt", profile="tiny")
    for _ in range(2):
        code = trakt.issue_code("alice-trakt", redirect_uri=OOB)
        alice_client.post("/connect/pin/", {"code": code, "username": ""})
    assert Account.objects.count() == 1
    assert Account.objects.get().auth_events.count() == 2


@pytest.mark.parametrize("code, message", [
    ("0" * 64, "trakt did not accept that code: it may be mistyped, used already or expired"),
    ("two words", "That code is not valid: copy the code trakt shows, with no spaces."),
    ("", "This field is required."),
    ("x" * 201, "Ensure this value has at most 200 characters"),
])
def test_pin_bad_code(trakt, alice_client, code, message):
    response = alice_client.post("/connect/pin/", {"code": code, "username": ""})
    assert response.status_code == 200
    assert message in page_text(response)
    assert not Account.objects.exists()


def test_pin_code_used_twice(trakt, alice_client, bob_client):
    trakt.add_user("alice-trakt", profile="tiny")
    code = trakt.issue_code("alice-trakt", redirect_uri=OOB)
    alice_client.post("/connect/pin/", {"code": code, "username": ""})
    response = alice_client.post("/connect/pin/", {"code": code, "username": ""})
    assert "trakt did not accept that code" in page_text(response)


def test_pin_code_of_another_trakt_account(trakt, alice_client):
    trakt.add_user("mallory", profile="tiny")
    code = trakt.issue_code("mallory", redirect_uri=OOB)
    response = alice_client.post("/connect/pin/", {"code": code, "username": "alice-trakt"})
    assert "That code belongs to the trakt account mallory, not alice-trakt" in page_text(response)
    assert not Account.objects.exists()


def test_trakt_account_of_another_user_is_not_taken_over(trakt, alice_client, bob_client):
    trakt.add_user("alice-trakt", profile="tiny")
    alice_client.post("/connect/pin/", {"code": trakt.issue_code("alice-trakt", redirect_uri=OOB), "username": ""})
    response = bob_client.post("/connect/pin/", {"code": trakt.issue_code("alice-trakt", redirect_uri=OOB),
                                                 "username": ""})
    assert "already connected by another user" in page_text(response)
    assert Account.objects.get().owner.username == "alice"


def test_pin_when_trakt_is_unreachable(trakt, alice_client):
    trakt.add_user("alice-trakt", profile="tiny")
    code = trakt.issue_code("alice-trakt", redirect_uri=OOB)
    trakt.inject("reset", path=r"^/oauth/token$", times=None)
    response = alice_client.post("/connect/pin/", {"code": code, "username": ""})
    page = page_text(response)
    assert "The code could not be exchanged" in page and "try again later" in page
    assert not Account.objects.exists()


def test_pin_when_trakt_is_down(trakt, alice_client):
    trakt.stop()
    response = alice_client.post("/connect/pin/", {"code": "abc", "username": ""})
    assert "The code could not be exchanged: The connection to trakt failed" in page_text(response)
    assert not Account.objects.exists()


# -- redirect with state and PKCE ------------------------------------------------------------------


def begin_redirect(client, username: str = "") -> tuple[str, dict]:
    response = client.post("/connect/redirect/", {"username": username})
    assert response.status_code == 302
    return response["Location"], session_value(client, "oauth_redirect")


def approve_at_trakt(authorize_url: str, username: str, decision: str = "approve") -> str:
    """What the user does at trakt's authorize page: sign in and approve; trakt redirects back."""
    parsed = urlparse(authorize_url)
    form = {k: v[0] for k, v in parse_qs(parsed.query).items()} | {"username": username, "decision": decision}
    answer = requests.post(f"{parsed.scheme}://{parsed.netloc}{parsed.path}", data=form, allow_redirects=False,
                           timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def come_back(client, location: str):
    """The browser following trakt's redirect back to this installation."""
    return client.get(location.replace("http://testserver", ""))


def assert_refused(response, message: str) -> None:
    """The callback refused the sign-in with MESSAGE and stored no account."""
    assert response.status_code == 400
    assert message in page_text(response)
    assert not Account.objects.exists()


def test_redirect_flow_with_pkce(trakt, alice, alice_client):
    trakt.add_user("alice-trakt", profile="tiny")
    url, pending = begin_redirect(alice_client)
    query = parse_qs(urlparse(url).query)
    assert url.startswith(trakt.auth_url + "/oauth/authorize?")
    assert query["redirect_uri"] == ["http://testserver/connect/callback"]
    assert query["state"] == [pending["state"]] and query["code_challenge_method"] == ["S256"]
    back = approve_at_trakt(url, "alice-trakt")
    assert back.startswith("http://testserver/connect/callback?")
    response = come_back(alice_client, back)
    account = Account.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/#account-{account.pk}"
    assert account.owner == alice and account.username == "alice-trakt"
    assert "oauth_redirect" not in alice_client.session


def test_redirect_state_mismatch_is_refused(trakt, alice_client):
    trakt.add_user("alice-trakt", profile="tiny")
    url, _ = begin_redirect(alice_client)
    back = approve_at_trakt(url, "alice-trakt")
    forged = re.sub(r"state=[^&]+", "state=forged", back).replace("http://testserver", "")
    response = alice_client.get(forged)
    assert response.status_code == 400
    page = page_text(response)
    assert "does not match a sign-in started from this browser" in page and "Nothing was stored" in page
    assert not Account.objects.exists()
    assert trakt.count(r"^/oauth/token$") == 0  # the code was never even sent to trakt
    # nor a missing state: and neither cancelled the connect under way, whose real answer still connects
    assert alice_client.get("/connect/callback?code=abc").status_code == 400
    assert come_back(alice_client, back).status_code == 302 and Account.objects.get().username == "alice-trakt"
    # which used it up: the same answer a second time is refused
    assert come_back(alice_client, back).status_code == 400


def test_a_pending_redirect_expires(trakt, alice_client):
    trakt.add_user("alice-trakt", profile="tiny")
    url, pending = begin_redirect(alice_client)
    back = approve_at_trakt(url, "alice-trakt")
    set_session_value(alice_client, "oauth_redirect", {**pending, "started": pending["started"] - 11 * 60})
    assert_refused(come_back(alice_client, back), "more than ten minutes ago and has expired")
    assert trakt.count(r"^/oauth/token$") == 0


def test_codes_and_verifiers_are_sealed_in_the_session(trakt, alice_client):
    from django.contrib.sessions.models import Session

    start_device(alice_client, trakt)
    _, pending = begin_redirect(alice_client)
    stored = Session.objects.get().session_data  # what anyone reading the database sees
    device = session_value(alice_client, "device_login")
    assert device["device_code"] and pending["verifier"]
    decoded = str(Session.objects.get().get_decoded())
    for secret in (device["device_code"], device["user_code"], pending["verifier"], pending["state"]):
        assert secret not in stored and secret not in decoded


def test_the_51st_connect_in_a_minute_is_refused_before_reaching_trakt(trakt, settings):
    from tests.support import make_user, signed_in

    clients = [signed_in(make_user(f"user{n}")) for n in range(6)]
    for number in range(settings.CONNECT_LIMIT_PER_INSTALLATION):
        clients[number % 6].post("/connect/pin/", {"code": f"wrong{number}", "username": ""})
    sent = trakt.count(r"^/oauth/token$")
    assert sent == settings.CONNECT_LIMIT_PER_INSTALLATION  # nine or fewer each: under the limit per user
    response = clients[5].post("/connect/pin/", {"code": "wrong-51", "username": ""})
    assert "This installation started as many connects with trakt in the last minute" in page_text(response)
    assert trakt.count(r"^/oauth/token$") == sent  # refused here, not at trakt


def test_one_user_may_start_ten_connects_a_minute(trakt, alice_client, bob_client, settings):
    for number in range(settings.CONNECT_LIMIT_PER_USER):
        alice_client.post("/connect/device/start", {"username": ""})
    starts = trakt.count(r"^/oauth/device/code$")
    assert starts == settings.CONNECT_LIMIT_PER_USER
    for page in ("/connect/device/start", "/connect/redirect/", "/connect/pin/"):
        response = alice_client.post(page, {"username": "", "code": "abcd1234"})
        assert "You started 10 connects in the last minute: wait a minute" in page_text(response), page
    assert trakt.count(r"^/oauth/(device/code|token)$") == starts
    assert bob_client.post("/connect/device/start", {"username": ""}).status_code == 302  # another user may


def test_callback_without_a_started_sign_in(trakt, alice_client):
    assert_refused(alice_client.get("/connect/callback?code=abc&state=xyz"), "This sign-in did not start here")


def test_redirect_pkce_verifier_is_checked_by_trakt(trakt, alice_client):
    trakt.add_user("alice-trakt", profile="tiny")
    url, pending = begin_redirect(alice_client)
    back = approve_at_trakt(url, "alice-trakt")
    set_session_value(alice_client, "oauth_redirect",
                      {**pending, "verifier": "a-different-verifier-of-enough-length-0123456789"})
    assert_refused(come_back(alice_client, back), "trakt did not accept that code")


def test_redirect_denied(trakt, alice_client):
    trakt.add_user("alice-trakt", profile="tiny")
    url, _ = begin_redirect(alice_client)
    back = approve_at_trakt(url, "alice-trakt", decision="deny")
    assert_refused(come_back(alice_client, back), "You denied the request at trakt")


def test_redirect_of_another_trakt_account(trakt, alice_client):
    trakt.add_user("mallory", profile="tiny")
    url, _ = begin_redirect(alice_client, username="alice-trakt")
    back = approve_at_trakt(url, "mallory")
    assert_refused(come_back(alice_client, back), "belongs to the trakt account mallory, not alice-trakt")
