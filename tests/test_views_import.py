"""Importing trakt's export from the browser's form (the test client's multipart upload)."""

from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from backups.models import Account, Backup
from tests.support import find, page_text
from tests.test_import import PLAY, SETTINGS, export_zip

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def archives(trakt):
    return trakt


def upload(client, path, username="alice"):
    with open(path, "rb") as handle:
        return client.post("/import/", {"export": SimpleUploadedFile("trakt-export-alice.zip", handle.read()),
                                        "username": username})


def test_the_page_says_how_to_get_the_export(alice_client):
    page = alice_client.get("/import/")
    assert find(page, "form#import-form")["enctype"] == "multipart/form-data"
    assert "https://trakt.tv/settings/data" in page_text(page) and "JSON" in page_text(page)


def test_an_upload_becomes_an_archive_of_an_account_imported_only(alice, alice_client, tmp_path):
    path = export_zip(tmp_path / "e.zip", {"user-settings.json": SETTINGS, "watched-history.json": [PLAY]})
    response = upload(alice_client, path)
    account = Account.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/#account-{account.pk}"
    assert account.owner == alice and account.status == Account.Status.IMPORTED
    dashboard = alice_client.get("/")
    assert "Imported alice's export: 2 items." in find(dashboard, ".messages").text  # settings and one play
    card = find(dashboard, f"#account-{account.pk}")
    assert find(card, ".card-head .badge").text == "Imported only" and "Imported only: its archives" in card.text
    backup = Backup.objects.get()
    assert find(card, f"#backup-{backup.pk} td[data-label=Trigger]").text == "Imported"
    assert find(card, f"#backup-{backup.pk} a.download")["href"] == f"/backups/{backup.pk}/download"
    assert [a.text for a in card.select(".actions a") if "/connect/" in a["href"]] == ["Connect"]


def test_a_refused_upload_says_why_and_stores_nothing(alice_client, tmp_path, settings):
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    response = upload(alice_client, tmp_path / "bad.zip")
    assert response.status_code == 400 and "That file is not a ZIP" in page_text(response)
    settings.IMPORT_MAX_UPLOAD = 2048
    big = export_zip(tmp_path / "big.zip", {"user-settings.json": SETTINGS}, raw={"x.bin": os.urandom(10_000)})
    response = upload(alice_client, big)
    assert response.status_code == 400 and "larger than this installation accepts" in page_text(response)
    assert not Account.objects.exists() and not Backup.objects.exists()
