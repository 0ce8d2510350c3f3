"""The pytest fixtures every test module shares: the trakt emulator on loopback, the app configured
against it, the users alice (admin), bob (a plain user) and charlie (staff) with their clients, and
alice_backup (alice's account with one backup)."""

from __future__ import annotations

import pytest

from trakt_emulator import Emulator

from .archives import empty_archive_bucket
from .factories import CLIENT_ID, CLIENT_SECRET, OOB, connect_account, make_user, signed_in


@pytest.fixture
def emulator():
    """The trakt emulator alone, running on loopback; tests of the app want `trakt`."""
    server = Emulator(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[OOB, "http://testserver/connect/callback"],
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def trakt(emulator, settings, tmp_path):
    """The emulator, with the app pointed at it, its credentials stored, and archives (the folder they are
    built in and the storage that web downloads and retention read) in this test's folder."""
    from backups.services.grants import save_app_credentials

    settings.TRAKT_API_URL = emulator.api_url
    settings.TRAKT_AUTH_URL = emulator.auth_url
    settings.ARCHIVE_DIR = tmp_path / "archives"
    archives = settings.STORAGES["archives"]
    if archives["BACKEND"].endswith("FileSystemStorage"):
        options = {**archives.get("OPTIONS", {}), "location": str(settings.ARCHIVE_DIR)}
        settings.STORAGES = {**settings.STORAGES, "archives": {**archives, "OPTIONS": options}}
    empty_archive_bucket()
    save_app_credentials(CLIENT_ID, CLIENT_SECRET)
    return emulator


@pytest.fixture
def admin_user(db):
    return make_user("admin", superuser=True)


@pytest.fixture
def alice(db):
    return make_user("alice", superuser=True)


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def charlie(db):
    return make_user("charlie", is_staff=True)


@pytest.fixture
def alice_client(alice):
    return signed_in(alice)


@pytest.fixture
def bob_client(bob):
    return signed_in(bob)


@pytest.fixture
def charlie_client(charlie):
    return signed_in(charlie)


@pytest.fixture
def alice_backup(trakt, alice):
    """alice's trakt account "alice-trakt" (the tiny profile), connected, with one successful backup."""
    from backups.models import Backup
    from backups.services.backup_run import run_backup

    backup = run_backup(connect_account(trakt, "alice-trakt", alice))
    assert backup.status == Backup.Status.SUCCESS, backup.error
    return backup
