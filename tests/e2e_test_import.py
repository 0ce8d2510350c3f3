"""Importing trakt's export in a real browser: the upload, the new archive in the list, its download."""

from __future__ import annotations

import tarfile

from backups.models import Account, Backup
from tests.support.browser import BROWSER_TEST, sign_in

pytestmark = BROWSER_TEST


def test_upload_an_export_see_its_archive_and_download_it(page, trakt, alice, tmp_path):
    trakt.add_user("alice-trakt", profile="tiny")
    export = trakt.export_zip("alice-trakt", tmp_path / "trakt-export-alice-trakt.zip")
    sign_in(page, "alice")
    page.click("text=Import")
    page.set_input_files("#id_export", str(export))
    page.fill("#id_username", "alice-trakt")
    page.click("[data-action=import]")
    page.wait_for_url("**/#account-*")
    assert "Imported alice-trakt's export" in page.inner_text(".messages")
    account = Account.objects.get()
    backup = Backup.objects.get()
    card = page.locator(f"#account-{account.pk}")
    assert card.locator(".badge").first.inner_text() == "Imported only"
    row = card.locator(f"#backup-{backup.pk}")
    assert row.locator("td[data-label=Trigger]").inner_text() == "Imported"
    with page.expect_download() as download:
        row.locator("a.download").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    with tarfile.open(saved, "r:gz") as tar:
        names = tar.getnames()
    assert f"{backup.archive_name.removesuffix('.tar.gz')}/sync/history.json" in names
