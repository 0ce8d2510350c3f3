"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against the live server,
the trakt emulator and a real background worker (`manage.py qcluster` in its own process)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from backups.models import Account, AppCredentials, Backup
from tests.conftest import CLIENT_ID, CLIENT_SECRET, connect_account
from tests.helpers import ROOT, app_env
from tests.web_fixtures import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
# Every run saves the dashboard to test-artifacts/; UPDATE_SCREENSHOTS=1 also refreshes the README's copy.
SCREENSHOT = ROOT / "test-artifacts" / "dashboard.png"
README_SCREENSHOT = ROOT / "docs" / "dashboard.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium)"),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are still synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1100, "height": 800},
                                  accept_downloads=True)
    context.set_default_timeout(15_000)
    errors: list[str] = []
    page = context.new_page()
    # a script refused by the CSP, or failing, shows up here
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors


def sign_in(page, username: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


@contextlib.contextmanager
def worker(emu, log_path: Path):
    """A real django-q2 cluster on this test's database, archive folder and emulator; stopped cleanly."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], cwd=ROOT,
                                env=app_env(emu, Q_SYNC="0"), stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_first_run_app_setup_and_connecting_by_device_and_pin(page, emu, live_server):
    AppCredentials.objects.all().delete()  # a fresh installation: the app is set up from the page
    emu.add_user("alice-trakt", profile="tiny")
    emu.add_user("alice-second", profile="tiny")
    emu.device_interval = 1

    # first run: every page leads to the form that creates the admin
    page.goto("/")
    assert page.url.endswith("/first-run/")
    page.fill("#id_username", "alice")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("main button[type=submit]")

    # app setup, with the redirect URIs to paste at trakt
    page.wait_for_url("**/setup/")
    assert f"{live_server.url}/connect/callback" in page.inner_text("#redirect-uris")
    assert "urn:ietf:wg:oauth:2.0:oob" in page.inner_text("#redirect-uris")
    page.fill("#id_client_id", CLIENT_ID)
    page.fill("#id_client_secret", CLIENT_SECRET)
    page.click("main button[type=submit]")
    page.wait_for_url("**/connect/device/")
    assert AppCredentials.current().client_secret == CLIENT_SECRET

    # device code: the page polls by itself and moves on once the code is approved at trakt
    page.click("#device-start")
    user_code = page.inner_text("#user-code").strip()
    assert page.locator(".qr svg").is_visible()
    assert page.get_attribute("#verification-url", "href") == f"{emu.auth_url}/activate"
    page.wait_for_timeout(1200)  # at least one poll: still waiting
    assert "Waiting for you to approve" in page.inner_text("#device-status")
    assert not Account.objects.exists()
    emu.approve_device(user_code, "alice-trakt")
    page.wait_for_url("**/#account-*", timeout=20_000)
    assert "Connected the trakt account alice-trakt" in page.inner_text(".messages")
    assert page.locator("[data-account=alice-trakt] .badge-connected").is_visible()

    # PIN code: trakt's authorize page in a new tab shows a code to paste back
    page.goto("/connect/pin/")
    with page.context.expect_page() as new_tab:
        page.click("#authorize-link")
    trakt_tab = new_tab.value
    trakt_tab.fill("#username", "alice-second")
    trakt_tab.click("#authorize")
    code = trakt_tab.inner_text("#code").strip()
    trakt_tab.close()
    page.fill("#id_code", code)
    page.fill("#id_username", "alice-second")
    page.click("main button[type=submit]")
    page.wait_for_url("**/#account-*")
    assert "Connected the trakt account alice-second" in page.inner_text(".messages")
    owners = set(Account.objects.values_list("owner__username", "username"))
    assert owners == {("alice", "alice-trakt"), ("alice", "alice-second")}


def test_denied_device_code_offers_to_start_again(page, emu, alice):
    emu.device_interval = 1
    sign_in(page, "alice")
    page.goto("/connect/device/")
    page.click("#device-start")
    emu.deny_device(page.inner_text("#user-code").strip())
    page.wait_for_selector("#device-status.status-denied")
    assert "denied at trakt" in page.inner_text("#device-status")
    page.click("#device-restart button")  # a new code
    assert page.inner_text("#user-code").strip()
    assert not Account.objects.exists()


def test_back_up_now_live_progress_download_and_isolation(page, browser, emu, alice, bob, live_server,
                                                         monkeypatch, tmp_path):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # this test's web server queues; the worker process runs it
    account = connect_account(emu, "alice-trakt", alice, profile="small")
    emu.set_latency(0.08)  # a few seconds of backing up, to watch
    sign_in(page, "alice")
    card = page.locator(f"#account-{account.pk}")
    with worker(emu, tmp_path / "worker.log"):
        card.locator("[data-action=backup-now]").click()
        page.wait_for_url("**/#account-*")
        page.evaluate("window.sameDocument = true")  # gone if the page reloads
        row = card.locator("tbody.backup").first
        seen = []  # (status, categories done, categories total, the bar's value, the bar's max), read at once
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            seen.append(tuple(row.evaluate(
                """body => {
                    const bar = body.querySelector("progress");
                    return [body.dataset.status, Number(body.dataset.done), Number(body.dataset.total),
                            bar && bar.hasAttribute("value") ? bar.value : null, bar ? bar.max : null];
                }""")))
            if seen[-1][0] in ("success", "failed"):
                break
            time.sleep(0.2)
        assert seen[-1][0] == "success", (seen, (tmp_path / "worker.log").read_text()[-3000:])
    assert seen[0][0] in ("queued", "running"), "the backup ran in the background, not within the click"
    running = [(value, top) for status, done, total, value, top in seen if status == "running" and total]
    assert running and all(value is not None for value, _ in running), seen  # a bar while it runs
    assert any(0 < value < top for value, top in running), seen  # that moved, without a reload
    done, total = seen[-1][1:3]
    assert total > 0 and done == total  # and reached the end
    assert page.evaluate("window.sameDocument === true")
    backup = Backup.objects.get(account=account)
    assert backup.status == Backup.Status.SUCCESS and backup.trigger == Backup.Trigger.MANUAL
    assert row.locator("a.download").is_visible()
    assert f"{backup.total_items:,} items" in row.inner_text()
    assert "succeeded" in card.locator(f"[data-last-backup-of='{backup.pk}']").inner_text()

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(SCREENSHOT, README_SCREENSHOT)
    assert SCREENSHOT.stat().st_size < 400_000

    # the download: an attachment, a valid tar.gz with manifest.json
    with page.expect_download() as download_info:
        row.locator("a.download").click()
    download = download_info.value
    assert download.suggested_filename == backup.archive_name
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with tarfile.open(saved, "r:gz") as tar:
        names = tar.getnames()
    assert f"{backup.archive_name.removesuffix('.tar.gz')}/manifest.json" in names

    # a second user sees none of it
    context = browser.new_context(base_url=live_server.url)
    other = context.new_page()
    sign_in(other, "bob")
    assert "alice-trakt" not in other.content()
    assert "No trakt account yet" in other.inner_text("main")
    response = other.goto(f"/backups/{backup.pk}/download")
    assert response.status == 404 and "alice-trakt" not in other.content()
    response = other.goto(f"/accounts/{account.pk}/")
    assert response.status == 404
    context.close()
    assert get_user_model().objects.count() == 2
