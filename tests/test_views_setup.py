"""App setup: staff only, the steps and redirect URIs, and a secret that is never shown again."""

from __future__ import annotations

import pytest

from backups.models import AppCredentials

pytestmark = pytest.mark.django_db


def test_setup_page_shows_the_steps_and_both_redirect_uris(alice_client):
    response = alice_client.get("/setup/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "https://trakt.tv/oauth/applications/new" in page
    assert "urn:ietf:wg:oauth:2.0:oob" in page
    assert "http://testserver/connect/callback" in page
    assert "not set up" in page


def test_callback_uri_follows_site_url(alice_client, settings):
    settings.SITE_URL = "https://backup.example.net"
    page = alice_client.get("/setup/").content.decode()
    assert "https://backup.example.net/connect/callback" in page
    assert "http://testserver/connect/callback" not in page


def test_saving_the_app_keeps_the_secret_out_of_every_page(alice_client):
    response = alice_client.post("/setup/", {"client_id": "my-client-id", "client_secret": "s3cret-value-xyz"})
    assert response.status_code == 302 and response["Location"] == "/connect/device/"
    creds = AppCredentials.current()
    assert (creds.client_id, creds.client_secret) == ("my-client-id", "s3cret-value-xyz")
    page = alice_client.get("/setup/").content.decode()
    assert "my-client-id" in page and ">set<" in page
    assert "s3cret-value-xyz" not in page

    # the Client ID alone can change; an empty secret keeps the saved one
    alice_client.post("/setup/", {"client_id": "other-id", "client_secret": ""})
    creds = AppCredentials.current()
    assert (creds.client_id, creds.client_secret) == ("other-id", "s3cret-value-xyz")
    assert AppCredentials.objects.count() == 1


def test_setup_errors_store_nothing(alice_client):
    response = alice_client.post("/setup/", {"client_id": "", "client_secret": ""})
    assert response.status_code == 200
    assert b"This field is required." in response.content
    assert b"Paste the Client Secret" in response.content
    response = alice_client.post("/setup/", {"client_id": "id\x07bell", "client_secret": "x"})
    assert b"That does not look like a trakt Client ID" in response.content or b"Null characters" in response.content
    response = alice_client.post("/setup/", {"client_id": "x" * 201, "client_secret": "y"})
    assert b"at most 200 characters" in response.content
    assert not AppCredentials.objects.exists()


def test_staff_may_set_up_the_app(charlie_client):
    assert charlie_client.get("/setup/").status_code == 200


def test_plain_users_may_not(bob_client):
    response = bob_client.get("/setup/")
    assert response.status_code == 403
    assert b"Only an admin of this installation" in response.content
    assert bob_client.post("/setup/", {"client_id": "a", "client_secret": "b"}).status_code == 403
    assert not AppCredentials.objects.exists()
