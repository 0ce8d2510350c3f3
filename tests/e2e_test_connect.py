"""Connecting a trakt account in a real browser: by device code (approved or denied) and by PIN code."""

from __future__ import annotations

from backups.models import Account
from tests.support.browser import BROWSER_TEST, sign_in

pytestmark = BROWSER_TEST


def test_device_code_page_polls_until_approved_at_trakt(page, trakt, alice):
    trakt.add_user("alice-trakt", profile="tiny")
    trakt.device_interval = 1
    sign_in(page, "alice")
    page.goto("/connect/device/")
    page.click("#device-start")
    user_code = page.inner_text("#user-code").strip()
    assert page.locator(".qr svg").is_visible()
    assert page.get_attribute("#verification-url", "href") == f"{trakt.auth_url}/activate"
    page.wait_for_timeout(1200)  # at least one poll: still waiting
    assert "Waiting for you to approve" in page.inner_text("#device-status")
    assert not Account.objects.exists()

    trakt.approve_device(user_code, "alice-trakt")
    page.wait_for_url("**/#account-*", timeout=20_000)
    assert "Connected the trakt account alice-trakt" in page.inner_text(".messages")
    assert page.locator("[data-account=alice-trakt] .badge-connected").is_visible()
    assert list(Account.objects.values_list("owner__username", "username")) == [("alice", "alice-trakt")]


def test_denied_device_code_offers_to_start_again(page, trakt, alice):
    trakt.device_interval = 1
    sign_in(page, "alice")
    page.goto("/connect/device/")
    page.click("#device-start")
    trakt.deny_device(page.inner_text("#user-code").strip())
    page.wait_for_selector("#device-status.status-denied")
    assert "denied at trakt" in page.inner_text("#device-status")
    assert not page.locator("#user-code").is_visible() and not page.locator(".qr svg").is_visible()
    page.click("#device-restart button")  # a new code
    assert page.inner_text("#user-code").strip()
    assert not Account.objects.exists()


def test_pin_code_from_trakts_authorize_page_connects(page, trakt, alice):
    trakt.add_user("alice-trakt", profile="tiny")
    sign_in(page, "alice")
    page.goto("/connect/pin/")
    with page.context.expect_page() as new_tab:  # trakt's authorize page, in a new tab, shows the code
        page.click("#authorize-link")
    trakt_tab = new_tab.value
    trakt_tab.fill("#username", "alice-trakt")
    trakt_tab.click("#authorize")
    code = trakt_tab.inner_text("#code").strip()
    trakt_tab.close()
    page.fill("#id_code", code)
    page.fill("#id_username", "alice-trakt")
    page.click("main button[type=submit]")
    page.wait_for_url("**/#account-*")
    assert "Connected the trakt account alice-trakt" in page.inner_text(".messages")
    assert list(Account.objects.values_list("owner__username", "username")) == [("alice", "alice-trakt")]
