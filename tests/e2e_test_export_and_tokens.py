"""A backup's Export menu and the API tokens page, in a real browser."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import requests

from tests.support.browser import BROWSER_TEST, sign_in

pytestmark = BROWSER_TEST


def test_the_export_menu_downloads_a_letterboxd_zip(page, alice_backup, tmp_path):
    sign_in(page, "alice")
    row = page.locator(f"#backup-{alice_backup.pk}")
    row.locator(".export-menu summary").click()
    with page.expect_download() as download_info:
        row.get_by_role("link", name="Letterboxd").click()
    download = download_info.value
    assert re.fullmatch(r"letterboxd-alice-trakt-\d{8}T\d{6}Z\.zip", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with zipfile.ZipFile(saved) as zf:
        diary = list(csv.DictReader(io.StringIO(zf.read("letterboxd-diary.csv").decode())))
    assert diary and set(diary[0]) >= {"Title", "WatchedDate", "Rewatch"}


def test_a_token_made_on_the_page_works_once_shown_and_not_after_revoking(page, alice_backup, live_server):
    sign_in(page, "alice")
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("nightly script")
    page.get_by_role("button", name="Make token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("tbk_")
    api = f"{live_server.url}/api/v1/accounts"
    answer = requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200 and answer.json()[0]["username"] == "alice-trakt"
    page.goto("/settings/tokens/")  # shown once: a new look at the page has no token, only its first characters
    assert token not in page.content() and token[:8] in page.inner_text("main")
    page.get_by_role("button", name="Revoke").click()
    assert "The token is revoked" in page.inner_text("main")
    assert requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 401
