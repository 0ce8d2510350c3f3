"""First run in a real browser: a fresh installation leads to creating the admin, then to setting up the app."""

from __future__ import annotations

from backups.models import AppCredentials
from tests.support import CLIENT_ID, CLIENT_SECRET, PASSWORD
from tests.support.browser import BROWSER_TEST

pytestmark = BROWSER_TEST


def test_a_fresh_installation_creates_the_admin_then_sets_up_the_app(page, trakt, live_server):
    AppCredentials.objects.all().delete()  # a fresh installation: the app is set up from the page

    page.goto("/")  # every page leads to the form that creates the admin
    assert page.url.endswith("/first-run/")
    page.fill("#id_username", "alice")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("main button[type=submit]")

    page.wait_for_url("**/setup/")  # with the redirect URIs to paste at trakt
    assert page.inner_text("#redirect-uris").split() == ["urn:ietf:wg:oauth:2.0:oob",
                                                         f"{live_server.url}/connect/callback"]
    page.fill("#id_client_id", CLIENT_ID)
    page.fill("#id_client_secret", CLIENT_SECRET)
    page.click("main button[type=submit]")
    page.wait_for_url("**/connect/device/")
    assert AppCredentials.current().client_secret == CLIENT_SECRET
