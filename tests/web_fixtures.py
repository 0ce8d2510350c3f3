"""Fixtures of the web tests: alice (admin), bob (a plain user), charlie (staff), and their clients."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

PASSWORD = "correct-horse-battery-7"


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_superuser("alice", "alice@example.com", PASSWORD)


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)


@pytest.fixture
def charlie(db):
    return get_user_model().objects.create_user("charlie", "charlie@example.com", PASSWORD, is_staff=True)


def signed_in(user, **options) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


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
def emu(trakt, settings):
    """conftest's `trakt` (the emulator, the app set up against it, archives in the test's folder),
    with the archive storage moved to that folder too, so that the web's downloads and retention see
    the files the backups write."""
    archives = settings.STORAGES["archives"]
    if archives["BACKEND"].endswith("FileSystemStorage"):
        options = {**archives.get("OPTIONS", {}), "location": str(settings.ARCHIVE_DIR)}
        settings.STORAGES = {**settings.STORAGES, "archives": {**archives, "OPTIONS": options}}
    return trakt
