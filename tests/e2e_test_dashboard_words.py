"""The dashboard in words, in a real browser: counts by label (one line per list), what trakt did not provide
and why, who started each backup, a schedule set from its presets, and a deduplicated backup downloaded under
its own name."""

from __future__ import annotations

import time

import pytest

from backups.models import Backup
from backups.services.backup_run import run_backup
from tests.support import connect_account
from tests.support.browser import BROWSER_TEST, sign_in

pytestmark = BROWSER_TEST


@pytest.fixture
def account(trakt, alice):
    return connect_account(trakt, "alice-trakt", alice, profile="tiny")


def test_the_counts_say_what_was_backed_up_and_what_trakt_did_not_provide(page, trakt, account):
    backup = run_backup(account, Backup.Trigger.SCHEDULE)
    lists = [entry["name"] for entry in trakt.user_data("alice-trakt")["/users/me/lists"]]
    sign_in(page, "alice")
    row = page.locator(f"#backup-{backup.pk}")
    assert row.locator("td[data-label=Trigger]").inner_text() == "Scheduled (full)"
    counts = row.locator("details.counts")
    assert counts.locator(".counted").is_hidden()  # folded until asked for
    counts.locator("summary").click()
    labels = counts.locator(".counted li span:first-child").all_inner_texts()
    assert labels[:2] == ["Settings", "Profile"] and "Watch history" in labels
    assert {f"Items of list ‘{name}’" for name in lists} <= set(labels)
    assert not [label for label in labels if "/" in label]
    skipped = counts.locator(".skipped li").all_inner_texts()
    assert len(skipped) == 4 and all("Saved filters" in line and "VIP" in line for line in skipped), skipped
    assert "4 categories not available" in counts.locator("summary").inner_text()


def test_a_schedule_set_from_the_presets(page, account):
    sign_in(page, "alice")
    card = page.locator(f"#account-{account.pk}")
    prefix = f"a{account.pk}"
    assert card.locator(f"select[name={prefix}-frequency]").input_value() == "weekly"
    assert card.locator(f"[name={prefix}-cron]").is_hidden()  # only the chosen frequency's fields
    card.locator(f"select[name={prefix}-frequency]").select_option("monthly")
    assert card.locator(f"select[name={prefix}-weekday]").is_hidden()
    card.locator(f"select[name={prefix}-day]").select_option("15")
    card.locator(f"input[name={prefix}-time]").fill("05:45")
    card.locator("form.schedule button[type=submit]").click()
    page.wait_for_url("**/#account-*")
    assert "alice-trakt is now backed up on day 15 of every month at 05:45 (UTC time)" in page.inner_text(".messages")
    assert "runs on day 15 of every month at 05:45." in card.inner_text()
    account.refresh_from_db()
    assert account.backup_cron == "45 5 15 * *"

    card.locator(f"select[name={prefix}-frequency]").select_option("custom")  # custom: the cron field, checked
    card.locator(f"[name={prefix}-cron]").fill("*/10 * * * *")
    card.locator("form.schedule button[type=submit]").click()
    assert "Back up at most once an hour" in page.locator(f"#account-{account.pk} .field-error").inner_text()
    account.refresh_from_db()
    assert account.backup_cron == "45 5 15 * *"


def test_a_deduplicated_backup_downloads_under_its_own_name(page, account):
    first = run_backup(account, Backup.Trigger.SCHEDULE)
    time.sleep(1.1)  # archive names are to the second
    second = run_backup(account)  # nothing changed at trakt: it shares the first one's file
    assert second.same_as_id == first.pk and second.archive_name == first.archive_name
    sign_in(page, "alice")
    row = page.locator(f"#backup-{second.pk}")
    assert "Same content as the backup of" in row.inner_text()
    assert row.locator("td[data-label=Trigger]").inner_text() == "Command line (incremental)"
    with page.expect_download() as download:
        row.locator("a.download").click()
    assert download.value.suggested_filename == second.download_name != first.archive_name
    assert download.value.suggested_filename.startswith("backup-alice-trakt-")
