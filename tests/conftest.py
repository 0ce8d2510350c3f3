"""Shared fixtures: a real trakt emulator on loopback, the app configured against it, and users."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from trakt_emulator import Emulator

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret-value"


@pytest.fixture
def emulator():
    emu = Emulator(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=["urn:ietf:wg:oauth:2.0:oob", "http://testserver/connect/callback"],
    )
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def trakt(emulator, settings, tmp_path):
    """The app pointed at the emulator, with app credentials stored and archives in a temp folder."""
    from backups.services.grants import save_app_credentials

    settings.TRAKT_API_URL = emulator.api_url
    settings.TRAKT_AUTH_URL = emulator.auth_url
    settings.ARCHIVE_DIR = tmp_path / "archives"
    empty_archive_bucket()
    save_app_credentials(CLIENT_ID, CLIENT_SECRET)
    return emulator


def empty_archive_bucket() -> None:
    """With S3 storage (the services pass), each test starts from an empty prefix, as tmp_path gives locally."""
    from backups import storage

    if not storage.is_local():
        backend = storage.storage()
        backend.bucket.objects.filter(Prefix=backend.location.strip("/") + "/").delete()


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-password-1")


def connect_account(emulator, username: str, owner, profile: str = "tiny", **user_options):
    """Seed a trakt user in the emulator and connect it through the real code exchange."""
    from backups.services.grants import connect_with_code

    emulator.add_user(username, profile=profile, **user_options)
    code = emulator.issue_code(username, redirect_uri="urn:ietf:wg:oauth:2.0:oob")
    return connect_with_code(code, owner, expected_username=username)


from tests.web_fixtures import *  # noqa: E402,F401,F403 - the web tests' users and clients
