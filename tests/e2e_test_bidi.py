"""A trakt username with a right-to-left override ("\\u202eecila"), in a real browser: the dashboard and the
admin's account list show it as itself, "⟨U+202E⟩ecila" left to right, never as "alice".

What the page reads is checked as it is drawn: the characters sorted by where Chromium put them on the screen,
not the DOM's text (which holds the characters in their stored order whatever the screen shows)."""

from __future__ import annotations

import pytest

from tests.support import connect_account
from tests.support.browser import BROWSER_TEST, sign_in

pytestmark = BROWSER_TEST

FAKE = "\u202eecila"
SHOWN = "⟨U+202E⟩ecila"

# The element's text as drawn: every character of its text nodes, left to right by where it was laid out.
AS_DRAWN = """element => {
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  const drawn = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const box = range.getBoundingClientRect();
      if (box.width > 0) drawn.push([box.left, node.data[i]]);
    }
  }
  return drawn.sort((a, b) => a[0] - b[0]).map(pair => pair[1]).join("").trim();
}"""


@pytest.fixture
def fake_alice(trakt, alice):
    return connect_account(trakt, FAKE, alice, profile="tiny")


def test_the_dashboard_shows_the_name_as_itself(page, fake_alice):
    sign_in(page, "alice")
    name = page.locator(f"#account-{fake_alice.pk} h2 a")
    assert name.evaluate(AS_DRAWN) == SHOWN
    assert name.inner_text() == SHOWN and "alice" not in name.evaluate(AS_DRAWN)
    page.click(f"#account-{fake_alice.pk} h2 a")
    assert page.locator("h1").evaluate(AS_DRAWN) == SHOWN
    assert page.title() == f"{SHOWN} · trakt-backup"


def test_the_admins_account_list_shows_the_name_as_itself(page, fake_alice):
    sign_in(page, "alice")
    page.goto("/admin/backups/account/")
    cell = page.locator("#result_list .field-username")
    assert cell.evaluate(AS_DRAWN) == SHOWN
    cell.locator("a").click()
    page.wait_for_url(f"**/admin/backups/account/{fake_alice.pk}/change/")
    assert page.locator(".field-username .readonly").evaluate(AS_DRAWN) == SHOWN
    assert SHOWN in page.locator(".breadcrumbs").inner_text()
