"""Downloading archives: to the owner and staff only, streamed as an attachment, never a broken file."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import timedelta
from datetime import timezone as dt_timezone
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from backups import storage
from backups.models import Backup
from tests.support import connect_account, page_text
from tests.support.factories import grant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def streamed_downloads(settings):
    """Stream through the app on every storage (the S3 redirect has its own test below)."""
    settings.S3_REDIRECT_DOWNLOADS = False


@pytest.fixture
def backup(trakt, alice, alice_client) -> Backup:
    account = connect_account(trakt, "alice-trakt", alice)
    alice_client.post(f"/accounts/{account.pk}/backup")
    backup = Backup.objects.get(account=account)
    assert backup.status == Backup.Status.SUCCESS
    return backup


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_owner_downloads_a_valid_archive(backup, alice_client):
    response = alice_client.get(f"/backups/{backup.pk}/download")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{backup.archive_name}"'
    assert response["Content-Type"] == "application/gzip"
    data = body(response)
    assert len(data) == backup.size
    top = backup.archive_name.removesuffix(".tar.gz")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        manifest = json.load(tar.extractfile(f"{top}/manifest.json"))
    assert manifest["username"] == "alice-trakt"


def test_staff_with_the_permission_may_download_any_archive(backup, charlie, charlie_client):
    grant(charlie, "view_all_archives")
    response = charlie_client.get(f"/backups/{backup.pk}/download")
    assert response.status_code == 200 and len(body(response)) == backup.size


def test_staff_without_it_are_told_which_permission_they_lack(backup, charlie_client, alice_client):
    response = charlie_client.get(f"/backups/{backup.pk}/download")
    assert response.status_code == 403 and "Can read and download every user" in response.content.decode()
    assert b"backup-alice-trakt" not in response.content
    assert alice_client.get(f"/backups/{backup.pk}/download").status_code == 200  # the owner, a superuser


def test_anyone_else_gets_404(backup, bob_client):
    response = bob_client.get(f"/backups/{backup.pk}/download")
    assert response.status_code == 404
    assert b"backup-alice-trakt" not in response.content


def test_anonymous_is_sent_to_the_login(backup):
    response = Client().get(f"/backups/{backup.pk}/download")
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next=/backups/{backup.pk}/download"


def test_a_missing_file_gives_a_page_with_words(backup, alice_client):
    storage.delete(backup.archive_key)
    response = alice_client.get(f"/backups/{backup.pk}/download")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    text = page_text(response)
    assert "This archive cannot be downloaded" in text and "no longer in the archive folder" in text
    assert "Back up now" in text


def test_failed_or_running_backups_have_nothing_to_download(backup, alice_client):
    failed = Backup.objects.create(account=backup.account, status=Backup.Status.FAILED, error="trakt was down.",
                                   archive_name=backup.archive_name)
    response = alice_client.get(f"/backups/{failed.pk}/download")
    assert response.status_code == 404 and "failed, so it has no archive" in page_text(response)
    running = Backup.objects.create(account=backup.account, status=Backup.Status.RUNNING, started=timezone.now())
    response = alice_client.get(f"/backups/{running.pk}/download")
    assert response.status_code == 404 and "is still running" in page_text(response)


def test_a_tampered_archive_name_cannot_leave_the_archive_folder(backup, alice_client):
    secret = Path(settings.ARCHIVE_DIR).parent / "secret.txt"
    secret.write_text("not an archive")
    Backup.objects.filter(pk=backup.pk).update(archive_name="../../secret.txt")
    response = alice_client.get(f"/backups/{backup.pk}/download")
    assert response.status_code == 404
    assert b"not an archive" not in response.content


def test_no_url_serves_the_archive_folder(backup, alice_client):
    archive_dir = Path(settings.ARCHIVE_DIR).resolve()
    static_dirs = [Path(settings.STATIC_ROOT).resolve(), *(Path(d).resolve() for d in settings.STATICFILES_DIRS)]
    for folder in static_dirs:
        assert not archive_dir.is_relative_to(folder) and not folder.is_relative_to(archive_dir)
    key = backup.archive_key
    data_relative = archive_dir.relative_to(Path(settings.DATA_DIR).resolve()) if archive_dir.is_relative_to(
        Path(settings.DATA_DIR).resolve()) else Path("archives")
    paths = [f"/static/{key}", f"/static/archives/{key}", f"/static/../{data_relative}/{key}",
             f"/static/%2e%2e/{data_relative}/{key}", f"/{key}", f"/archives/{key}", f"/media/{key}"]
    responses = {path: alice_client.get(path) for path in paths}
    assert {path: response.status_code for path, response in responses.items()} == dict.fromkeys(paths, 404)
    assert not [path for path, response in responses.items() if getattr(response, "streaming", False)]


@pytest.mark.skipif(storage.is_local(), reason="archives are in a local folder: they are streamed, never redirected")
def test_s3_downloads_redirect_to_a_short_lived_signed_url(backup, alice_client, bob_client, settings):
    import requests

    settings.S3_REDIRECT_DOWNLOADS = True
    assert bob_client.get(f"/backups/{backup.pk}/download").status_code == 404
    response = alice_client.get(f"/backups/{backup.pk}/download")
    assert response.status_code == 302
    signed = response["Location"]
    assert "Signature=" in signed  # the query carries the signature (X-Amz-Signature= in version 4)
    fetched = requests.get(signed, timeout=30)
    assert fetched.status_code == 200 and len(fetched.content) == backup.size


@pytest.fixture
def shared(backup, alice_client) -> Backup:
    """A second backup, identical to the first, taken a day later: it shares the first one's file."""
    alice_client.post(f"/accounts/{backup.account.pk}/backup")
    second = Backup.objects.filter(account=backup.account).exclude(pk=backup.pk).get()
    assert (second.status, second.same_as_id, second.archive_name) == (Backup.Status.SUCCESS, backup.pk,
                                                                      backup.archive_name)
    Backup.objects.filter(pk=second.pk).update(started=backup.started + timedelta(days=1))
    second.refresh_from_db()
    return second


def own_name(backup: Backup) -> str:
    return f"backup-{backup.account.archive_folder}-{backup.started.astimezone(dt_timezone.utc):%Y%m%dT%H%M%SZ}.tar.gz"


def test_a_backup_downloads_under_the_name_of_its_own_file(backup):
    assert backup.download_name == backup.archive_name == own_name(backup)


def test_a_backup_sharing_an_earlier_file_downloads_under_its_own_time(shared, alice_client):
    response = alice_client.get(f"/backups/{shared.pk}/download")
    assert response["Content-Disposition"] == f'attachment; filename="{own_name(shared)}"'


def test_the_shared_file_inside_keeps_its_top_folder(shared, alice_client):
    data = body(alice_client.get(f"/backups/{shared.pk}/download"))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tops = {member.name.split("/", 1)[0] for member in tar}
    assert tops == {shared.archive_name.removesuffix(".tar.gz")}


@pytest.mark.skipif(storage.is_local(), reason="archives are in a local folder: they are streamed, never redirected")
def test_a_signed_s3_download_saves_under_the_backups_own_name(shared, alice_client, settings):
    import requests

    settings.S3_REDIRECT_DOWNLOADS = True
    fetched = requests.get(alice_client.get(f"/backups/{shared.pk}/download")["Location"], timeout=30)
    assert fetched.headers["Content-Disposition"] == f'attachment; filename="{own_name(shared)}"'
