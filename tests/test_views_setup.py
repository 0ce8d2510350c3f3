"""App setup: staff only, the steps and redirect URIs, and a secret that is never shown again."""

from __future__ import annotations

import pytest

from backups.models import Account, AppCredentials
from tests.support import CLIENT_ID, CLIENT_SECRET, OOB, find, find_all, manage, page_text
from tests.support.factories import grant, session_value, set_session_value

pytestmark = pytest.mark.django_db


def test_setup_page_shows_the_steps_and_both_redirect_uris(alice_client):
    response = alice_client.get("/setup/")
    assert response.status_code == 200
    assert find_all(response, "a[href=https://trakt.tv/oauth/applications/new]")
    assert find(response, "#redirect-uris").text.split() == ["urn:ietf:wg:oauth:2.0:oob",
                                                             "http://testserver/connect/callback"]
    assert "not set up" in page_text(response)


def test_callback_uri_follows_site_url(alice_client, settings):
    settings.SITE_URL = "https://backup.example.net"
    response = alice_client.get("/setup/")
    assert find(response, "#redirect-uris").text.split() == ["urn:ietf:wg:oauth:2.0:oob",
                                                             "https://backup.example.net/connect/callback"]
    assert "http://testserver/connect/callback" not in response.content.decode()


def test_saving_the_app_keeps_the_secret_out_of_every_page(alice_client):
    response = alice_client.post("/setup/", {"client_id": "my-client-id", "client_secret": "s3cret-value-xyz"})
    assert response.status_code == 302 and response["Location"] == "/connect/device/"
    creds = AppCredentials.current()
    assert (creds.client_id, creds.client_secret) == ("my-client-id", "s3cret-value-xyz")
    response = alice_client.get("/setup/")
    facts = {dt.text: dd for dt, dd in zip(find_all(response, "dl.facts dt"), find_all(response, "dl.facts dd"))}
    assert facts["Client ID"].text == "my-client-id"
    assert find(facts["Client Secret"], ".badge").text == "set"
    assert "s3cret-value-xyz" not in response.content.decode()

    # the Client ID alone can change; an empty secret keeps the saved one
    alice_client.post("/setup/", {"client_id": "other-id", "client_secret": ""})
    creds = AppCredentials.current()
    assert (creds.client_id, creds.client_secret) == ("other-id", "s3cret-value-xyz")
    assert AppCredentials.objects.count() == 1


def test_setup_errors_store_nothing(alice_client):
    response = alice_client.post("/setup/", {"client_id": "", "client_secret": ""})
    assert response.status_code == 200
    assert "This field is required." in page_text(response)
    assert "Paste the Client Secret" in page_text(response)
    response = alice_client.post("/setup/", {"client_id": "id\x07bell", "client_secret": "x"})
    assert "That does not look like a trakt Client ID" in page_text(response)
    response = alice_client.post("/setup/", {"client_id": "x" * 201, "client_secret": "y"})
    assert "at most 200 characters" in page_text(response)
    assert not AppCredentials.objects.exists()


def test_staff_with_the_permission_may_set_up_the_app(charlie, charlie_client):
    assert charlie_client.get("/setup/").status_code == 403
    grant(charlie, "change_appcredentials")
    assert charlie_client.get("/setup/").status_code == 200


def test_plain_users_may_not(bob_client):
    response = bob_client.get("/setup/")
    assert response.status_code == 403
    assert "Only an admin of this installation" in page_text(response)
    assert bob_client.post("/setup/", {"client_id": "a", "client_secret": "b"}).status_code == 403
    assert not AppCredentials.objects.exists()


# -- the credentials are checked with trakt when saved ---------------------------------------------


def test_a_client_id_trakt_knows_is_saved_and_the_secret_left_to_the_first_connect(trakt, alice_client):
    AppCredentials.objects.all().delete()
    response = alice_client.post("/setup/", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, follow=True)
    message = find(response, ".message-success").text
    assert "trakt knows this Client ID" in message and "checked when you connect" in message
    assert AppCredentials.current().client_id == CLIENT_ID
    assert trakt.count(r"^/oauth/device/code$") == 1


def test_a_client_id_trakt_does_not_know_is_refused(trakt, alice_client):
    response = alice_client.post("/setup/", {"client_id": "not-the-right-id", "client_secret": CLIENT_SECRET})
    assert response.status_code == 200
    assert "trakt does not know this Client ID (it answered 403)" in page_text(response)
    assert "Nothing was saved." in page_text(response)
    assert AppCredentials.current().client_id == CLIENT_ID  # the saved app is untouched


def test_swapped_credentials_are_refused_with_the_reason(trakt, alice_client):
    AppCredentials.objects.all().delete()
    response = alice_client.post("/setup/", {"client_id": CLIENT_SECRET, "client_secret": CLIENT_ID})
    assert "The Client ID and the Client Secret look swapped" in page_text(response)
    assert not find(response, "input[name=client_secret]").get("value")  # the secret field is never filled back
    assert not AppCredentials.objects.exists()


def test_an_unreachable_trakt_saves_with_a_warning(alice_client):
    # tests/settings.py points trakt at a closed port: nothing answers
    response = alice_client.post("/setup/", {"client_id": "my-client-id", "client_secret": "s3cret"}, follow=True)
    message = find(response, ".message-warning").text
    assert "The Client ID was not checked: trakt could not be reached" in message
    assert AppCredentials.current().client_id == "my-client-id"


def test_a_wrong_secret_is_named_at_the_first_pin_connect(trakt, alice_client):
    alice_client.post("/setup/", {"client_id": CLIENT_ID, "client_secret": "a-wrong-secret"})
    trakt.add_user("alice-trakt", profile="tiny")
    code = trakt.issue_code("alice-trakt", redirect_uri=OOB)
    response = alice_client.post("/connect/pin/", {"code": code})
    assert "trakt refused the app's Client Secret (invalid_client)" in page_text(response)
    assert not Account.objects.exists()


def test_a_wrong_secret_is_named_at_the_first_device_connect(trakt, alice_client):
    alice_client.post("/setup/", {"client_id": CLIENT_ID, "client_secret": "a-wrong-secret"})
    trakt.add_user("alice-trakt", profile="tiny")
    trakt.device_interval = 1
    alice_client.post("/connect/device/start", {"username": ""})
    trakt.approve_device(session_value(alice_client, "device_login")["user_code"], "alice-trakt")
    trakt.advance_clock(1)
    set_session_value(alice_client, "device_login", {**session_value(alice_client, "device_login"), "next_poll": 0})
    result = alice_client.post("/connect/device/poll").json()
    assert result["state"] == "refused" and result["done"]
    assert "trakt refused the app's Client Secret" in result["message"]
    assert not Account.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_setup_command_checks_the_client_id(trakt):
    result = manage("trakt_setup", "--client-id", "not-the-right-id", "--client-secret", "x", emulator=trakt)
    assert result.returncode != 0
    assert "trakt does not know this Client ID" in result.stderr and "Traceback" not in result.stderr
    result = manage("trakt_setup", "--client-id", CLIENT_SECRET, "--client-secret", CLIENT_ID, emulator=trakt)
    assert result.returncode != 0 and "look swapped" in result.stderr
    result = manage("trakt_setup", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, emulator=trakt)
    assert result.returncode == 0 and "trakt knows this Client ID" in result.stdout
    result = manage("trakt_setup", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET)  # no trakt
    assert result.returncode == 0 and "was not checked: trakt could not be reached" in result.stderr
