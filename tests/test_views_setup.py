"""App setup: staff only, the steps and redirect URIs, and a secret that is never shown again."""

from __future__ import annotations

import pytest

from backups.models import AppCredentials
from tests.support import find, find_all, page_text

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


def test_staff_may_set_up_the_app(charlie_client):
    assert charlie_client.get("/setup/").status_code == 200


def test_plain_users_may_not(bob_client):
    response = bob_client.get("/setup/")
    assert response.status_code == 403
    assert "Only an admin of this installation" in page_text(response)
    assert bob_client.post("/setup/", {"client_id": "a", "client_secret": "b"}).status_code == 403
    assert not AppCredentials.objects.exists()
