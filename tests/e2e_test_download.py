"""Downloading an archive in a real browser, and what another user's browser gets instead."""

from __future__ import annotations

import tarfile

from django.contrib.auth import get_user_model

from tests.support.browser import BROWSER_TEST, sign_in

pytestmark = BROWSER_TEST


def test_the_download_is_the_archive(page, alice_backup, tmp_path):
    sign_in(page, "alice")
    with page.expect_download() as download_info:
        page.locator(f"#backup-{alice_backup.pk} a.download").click()
    download = download_info.value
    assert download.suggested_filename == alice_backup.archive_name
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with tarfile.open(saved, "r:gz") as tar:
        names = tar.getnames()
    assert f"{alice_backup.archive_name.removesuffix('.tar.gz')}/manifest.json" in names


def test_another_user_sees_none_of_it(page, alice_backup, bob):
    sign_in(page, "bob")
    assert "alice-trakt" not in page.content()
    assert "No trakt account yet" in page.inner_text("main")
    response = page.goto(f"/backups/{alice_backup.pk}/download")
    assert response.status == 404 and "alice-trakt" not in page.content()
    response = page.goto(f"/accounts/{alice_backup.account.pk}/")
    assert response.status == 404
    assert get_user_model().objects.count() == 2
