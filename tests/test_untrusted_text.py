"""Untrusted text stays text: a trakt username with a right-to-left override never reads as another account's
(pages, admin, notifications), a username with newlines never writes a log line of its own, and a
``javascript:`` URL in trakt's device-code answer never becomes a link."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail

from backups.services.grants import ServiceError, refresh_grant
from backups.templatetags.backup_tags import inline_code, untrusted
from backups.untrusted import DEFAULT_VERIFICATION_URL, for_log, trakt_link, visible
from tests.support import OOB, connect_account, find, find_all, page_text
from tests.support.factories import session_value, set_session_value

pytestmark = pytest.mark.django_db

FAKE = "\u202eecila"  # reads as "alice" where it is not isolated and escaped
SHOWN = "⟨U+202E⟩ecila"
# Every character that must show: C0 and C1 controls, the bidi embeddings, overrides, isolates and marks.
HIDDEN = ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9f", "\u061c", "\u200e", "\u200f", "\u2028",
          *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]


@pytest.fixture
def fake_alice(trakt, alice):
    return connect_account(trakt, FAKE, alice, profile="tiny")


# -- names on pages, in the admin and in notifications -------------------------------------------------------


@pytest.mark.parametrize("char", HIDDEN, ids=lambda c: f"U+{ord(c):04X}")
def test_every_hidden_character_is_shown_as_its_code_point(char):
    assert visible(f"a{char}b") == f"a⟨U+{ord(char):04X}⟩b"
    assert untrusted(f"a{char}b") == f"<bdi>a⟨U+{ord(char):04X}⟩b</bdi>"
    assert char not in inline_code(f"a{char}b `cmd`") and "<code>cmd</code>" in inline_code(f"a{char}b `cmd`")
    assert char not in for_log(f"a{char}b") and "\\" in for_log(f"a{char}b")


def test_ordinary_names_are_left_as_they_are():
    for name in ["alice-trakt", "Zoë Ångström", "用户 😀", "שלום", "<b>&amp;"]:
        assert visible(name) == name and for_log(name) == name
    assert untrusted("<b>&amp;") == "<bdi>&lt;b&gt;&amp;amp;</bdi>"  # escaped, never markup


def test_the_dashboard_and_the_account_page_show_the_name_escaped_and_isolated(fake_alice, alice_client):
    dashboard = alice_client.get("/")
    name = find(dashboard, f"#account-{fake_alice.pk} h2 a bdi")
    assert name.text == SHOWN
    account_page = alice_client.get(f"/accounts/{fake_alice.pk}/")
    assert find(account_page, "h1 bdi").text == SHOWN and find(account_page, ".crumbs bdi").text == SHOWN
    assert f"<title>{SHOWN} · trakt-backup</title>" in account_page.content.decode()
    for response in (dashboard, account_page):
        assert "\u202e" not in page_text(response)


def test_the_admin_shows_the_name_escaped_and_isolated(fake_alice, alice_client):
    listing = alice_client.get("/admin/backups/account/")
    assert listing.status_code == 200
    assert find(listing, "#result_list .field-username bdi").text == SHOWN
    change = alice_client.get(f"/admin/backups/account/{fake_alice.pk}/change/")
    assert change.status_code == 200
    assert find(change, ".field-username bdi").text == SHOWN
    assert SHOWN in find(change, ".breadcrumbs").text and SHOWN in [h2.text for h2 in find_all(change, "#content h2")]
    for response in (listing, change):
        assert "\u202e" not in page_text(response)


def test_the_admin_lists_of_backups_and_auth_events_show_the_account_escaped(fake_alice, alice_client):
    for path in ["/admin/backups/authevent/", "/admin/backups/backup/"]:
        response = alice_client.get(path)
        assert response.status_code == 200 and "\u202e" not in page_text(response)
    cells = find_all(alice_client.get("/admin/backups/authevent/"), "#result_list .field-account__username bdi")
    assert cells and {cell.text for cell in cells} == {SHOWN}


def test_a_notification_names_the_account_escaped(trakt, fake_alice):
    trakt.revoke_grants(FAKE)
    with pytest.raises(ServiceError):
        refresh_grant(fake_alice, force=True)
    (message,) = mail.outbox
    assert message.subject == f"[trakt-backup] {SHOWN} must be connected again"
    assert SHOWN in message.body and "\u202e" not in message.subject + message.body


def test_a_connected_message_names_the_account_escaped(trakt, alice_client):
    trakt.add_user(FAKE, profile="tiny")
    code = trakt.issue_code(FAKE, redirect_uri=OOB)
    response = alice_client.post("/connect/pin/", {"code": code, "username": ""}, follow=True)
    assert f"Connected the trakt account {SHOWN}." in find(response, ".messages").text


def test_the_device_pages_answer_names_the_account_escaped(trakt, alice_client):
    trakt.add_user(FAKE, profile="tiny")
    trakt.device_interval = 1
    assert alice_client.post("/connect/device/start", {"username": ""}).status_code == 302
    device = session_value(alice_client, "device_login")
    trakt.approve_device(device["user_code"], FAKE)
    trakt.advance_clock(1)
    set_session_value(alice_client, "device_login", {**device, "next_poll": 0})  # as if the interval had passed
    answer = alice_client.post("/connect/device/poll").json()
    assert answer["state"] == "connected" and answer["message"] == f"Connected the trakt account {SHOWN}."


# -- one line per log record ----------------------------------------------------------------------------------


def _log_written_during(action) -> str:
    """What the installation's own log file (LOG_FILE, in the data folder) got while ``action`` ran."""
    if not django_settings.LOG_FILE:
        pytest.skip("LOG_FILE is empty: this run writes no log file")
    log_file = Path(django_settings.LOG_FILE)
    start = log_file.stat().st_size if log_file.exists() else 0
    action()
    with open(log_file, encoding="utf-8") as written:
        written.seek(start)
        return written.read()


FORGED = "2026-01-01 00:00:00,000 CRITICAL django.security: FORGED admin alice logged in"
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.-]+: ")


def test_a_username_with_newlines_stays_on_its_log_line(trakt, alice_client):
    posted = {"code": "f" * 40, "username": f"alice\n{FORGED}\r\n\x1b[2Kalso forged"}
    written = _log_written_during(lambda: alice_client.post("/connect/pin/", posted))
    assert "FORGED" in written, written
    (line,) = [line for line in written.splitlines() if "FORGED" in line]
    assert RECORD.match(line) and " INFO backups.services.grants: code exchange for alice\\n2026-01-01" in line
    assert "\\r\\n\\x1b[2Kalso forged failed" in line
    assert all(RECORD.match(line) for line in written.splitlines()), written  # every line is a record's own


def test_an_exception_keeps_its_traceback_lines_and_its_message_on_one(trakt):
    def fail():
        try:
            raise ValueError(f"no such user alice\n{FORGED}")
        except ValueError:
            logging.getLogger("backups.tests").exception("lookup of %s failed", "bob\nFORGED too")

    written = _log_written_during(fail)
    lines = written.splitlines()
    assert RECORD.match(lines[0]) and lines[0].endswith("lookup of bob\\nFORGED too failed")
    assert lines[1] == "Traceback (most recent call last):" and lines[2].startswith("  File ")
    assert lines[-1] == f"ValueError: no such user alice\\n{FORGED}"
    assert not [line for line in lines if line.startswith("2026-01-01")]


# -- links from trakt's answers -------------------------------------------------------------------------------

HOSTILE_URLS = ["javascript:alert(document.domain)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
                "java\nscript:alert(1)", "data:text/html,<script>alert(1)</script>", "http://evil.example/activate",
                "//evil.example/activate", "https://trakt.tv@evil.example/activate", "https://trakt.tv/\u202eetavitca",
                "", None, 42]


@pytest.mark.parametrize("url", HOSTILE_URLS, ids=repr)
def test_a_verification_url_that_is_not_https_is_not_a_link(trakt, alice_client, url):
    answer = {"device_code": "d" * 64, "user_code": "ABCD1234", "verification_url": url, "expires_in": 600,
              "interval": 5}
    trakt.inject("wrong_shape", path=r"^/oauth/device/code$", value=answer)
    assert alice_client.post("/connect/device/start", {"username": ""}).status_code == 302
    page = alice_client.get("/connect/device/")
    assert find(page, "#user-code").text == "ABCD1234"
    assert find(page, "#verification-url")["href"] == DEFAULT_VERIFICATION_URL
    assert find(page, "figure.qr figcaption").text == DEFAULT_VERIFICATION_URL
    assert not [a for a in find_all(page, "a[href]") if not a["href"].startswith(("/", "https://", "#"))]
    assert "javascript:" not in page.content.decode().lower()


def test_trakts_own_hosts_and_https_links_are_kept(trakt, settings):
    assert trakt_link("https://trakt.tv/activate") == "https://trakt.tv/activate"
    assert trakt_link(f"{settings.TRAKT_AUTH_URL}/activate") == f"{settings.TRAKT_AUTH_URL}/activate"  # http here
    assert trakt_link(f"{settings.TRAKT_API_URL}/x") == f"{settings.TRAKT_API_URL}/x"
    assert trakt_link("http://127.0.0.1:9/activate") == DEFAULT_VERIFICATION_URL  # the same host, another port
