"""The dashboard: accounts, backing up now, live progress, schedules, the auth log and disconnecting."""

from __future__ import annotations

import zoneinfo

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Schedule

from backups import storage
from backups.models import Account, AuthEvent, Backup
from backups.services import schedules
from tests.support import connect_account, find, find_all, page_text, parse

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(trakt, alice):
    return connect_account(trakt, "alice-trakt", alice)


def back_up_now(client, account) -> Backup:
    """Press "Back up now": with Q_CLUSTER sync the run completes within the request."""
    response = client.post(f"/accounts/{account.pk}/backup")
    assert response.status_code == 302 and response["Location"] == f"/#account-{account.pk}"
    return Backup.objects.filter(account=account).latest("created")


def test_empty_dashboard_invites_to_connect(trakt, alice_client):
    response = alice_client.get("/")
    assert "No trakt account yet" in page_text(response)
    assert find_all(response, "main a[href=/connect/device/]")


def test_dashboard_shows_the_account(account, alice_client):
    card = find(alice_client.get("/"), f"#account-{account.pk}")
    assert find(card, "h2").text == "alice-trakt"
    assert "Connected; token valid until" in card.text
    facts = {dt.text: dd.text for dt, dd in zip(card.select("dl.facts dt"), card.select("dl.facts dd"))}
    assert facts["Last backup"] == "None yet."
    minute, hour, *_ = schedules.backup_cron(account).split()  # weekly on Saturday night, by default
    assert find(card, f"select[name=a{account.pk}-frequency] option[selected]")["value"] == "weekly"
    assert find(card, f"select[name=a{account.pk}-weekday] option[selected]").text == "Saturday"
    assert find(card, f"input[name=a{account.pk}-time]")["value"] == f"{int(hour):02}:{int(minute):02}"
    assert f"runs every Saturday at {int(hour):02}:{int(minute):02}." in facts["Next backup"]
    for link in (f"/accounts/{account.pk}/events/", "/connect/device/?username=alice-trakt",
                 f"/accounts/{account.pk}/disconnect/"):
        assert card.select(f"a[href={link}]"), link
    assert card.select(f"form[action=/accounts/{account.pk}/backup] button[data-action=backup-now]")


def test_back_up_now_and_the_backup_row(trakt, account, alice_client):
    backup = back_up_now(alice_client, account)
    assert backup.status == Backup.Status.SUCCESS and backup.trigger == Backup.Trigger.MANUAL
    response = alice_client.get("/")
    assert "The backup of alice-trakt is done." in find(response, ".messages").text
    row = find(response, f"#backup-{backup.pk}")
    assert find(row, ".badge").text == "Succeeded"
    assert find(row, "a.download")["href"] == f"/backups/{backup.pk}/download"
    assert find(row, "details.counts summary").text.startswith(f"{backup.total_items:,} items")
    counted = {item.select("span")[0].text: item.select("span")[1].text for item in row.select("details.counts .counted li")}
    assert {"Watch history", "Settings"} <= set(counted)  # the per-category counts, in words
    lists = trakt_lists(trakt, account)
    assert lists and all(counted[f"Items of list ‘{name}’"] == f"{items:,}" for name, items in lists)
    shared = trakt_lists(trakt, account, shared=True)
    assert shared and all(counted[f"Items of shared list ‘{name}’"] == f"{items:,}" for name, items in shared)
    assert not [label for label in counted if "/" in label or "{" in label]  # no path anywhere
    from django.template.defaultfilters import filesizeformat

    cells = {td["data-label"]: td.text for td in row.select("td")}
    assert cells["Size"] == " ".join(filesizeformat(backup.size).split())  # its no-break space collapsed
    assert cells["Trigger"] == "Manual (full)"  # the first backup of an account is full
    assert not find_all(response, "progress")


def trakt_lists(trakt, account, *, shared: bool = False) -> list[tuple[str, int]]:
    """(name, item count) of the account's lists (or of the lists shared with it), as the emulator holds them."""
    data = trakt.user_data(account.username)
    index = data["/users/me/lists/collaborations" if shared else "/users/me/lists"]
    owner = (lambda entry: entry["user"]["ids"]["slug"]) if shared else (lambda entry: "me")
    return [(entry["name"], len(data[f"/users/{owner(entry)}/lists/{entry['ids']['trakt']}/items"]))
            for entry in index]


def test_categories_trakt_did_not_provide_are_listed_with_the_reason(account, alice_client):
    backup = back_up_now(alice_client, account)  # not a VIP: trakt answers 426 for the saved filters
    row = find(alice_client.get("/"), f"#backup-{backup.pk}")
    assert find(row, "details.counts summary").text == f"{backup.total_items:,} items, 4 categories not available"
    skipped = {li.select("span")[0].text: li.select("span")[1].text for li in row.select("details.counts .skipped li")}
    assert set(skipped) == {"Saved filters — movies", "Saved filters — shows", "Saved filters — calendars",
                            "Saved filters — search"}
    assert all("only available to trakt VIP members" in reason for reason in skipped.values())


def test_the_trigger_says_whether_a_backup_was_incremental(account, alice_client):
    back_up_now(alice_client, account)
    second = back_up_now(alice_client, account)
    cells = {td["data-label"]: td.text for td in find(alice_client.get("/"), f"#backup-{second.pk}").select(
        "td[data-label]")}
    assert cells["Trigger"] == "Manual (incremental)"


def test_counts_come_in_the_catalogs_order(account, alice_client):
    backup = back_up_now(alice_client, account)
    row = find(alice_client.get("/"), f"#backup-{backup.pk}")
    names = [item.select("span")[0].text for item in row.select("details.counts .counted li")]
    assert names[:3] == ["Settings", "Profile", "Statistics"]


def test_a_category_an_older_archive_had_reads_as_its_path(account, alice_client):
    backup = back_up_now(alice_client, account)
    Backup.objects.filter(pk=backup.pk).update(item_counts={"users/old_thing": 2})
    row = find(alice_client.get("/"), f"#backup-{backup.pk}")
    assert [item.select("span")[0].text for item in row.select("details.counts .counted li")] == [
        "users / old thing"]


def test_one_of_a_thing_is_in_the_singular(account, alice_client):
    backup = back_up_now(alice_client, account)
    Backup.objects.filter(pk=backup.pk).update(item_counts={"sync/history": 1}, pages_fetched=1, requests_made=1,
                                               skipped={"users/saved_filters/movies": "VIP only"})
    row = find(alice_client.get(f"/accounts/{account.pk}/"), f"#backup-{backup.pk}")
    assert (find(row, "details.counts summary").text, find(row, "details.counts p.requests").text) == (
        "1 item, 1 category not available", "1 page, 1 request to trakt.")


def test_checking_a_single_archive_says_so_in_the_singular(account, alice_client):
    back_up_now(alice_client, account)
    response = alice_client.post(f"/accounts/{account.pk}/verify", follow=True)
    assert "The archive of alice-trakt matches its checksums." in page_text(response)


def test_an_identical_backup_says_so(account, alice_client):
    first = back_up_now(alice_client, account)
    second = back_up_now(alice_client, account)
    Backup.objects.filter(pk=second.pk).update(same_as=first)  # as retention records identical content
    when = timezone.localtime(first.created).strftime("%Y-%m-%d %H:%M")
    assert f"Same content as the backup of {when}" in find(alice_client.get("/"), f"#backup-{second.pk}").text


def test_back_up_now_while_one_runs(account, alice_client):
    Backup.objects.create(account=account, status=Backup.Status.RUNNING, started=timezone.now(),
                          heartbeat=timezone.now())
    response = alice_client.post(f"/accounts/{account.pk}/backup", follow=True)
    assert "A backup of alice-trakt is already under way; wait for it to finish." in find(response, ".messages").text
    assert Backup.objects.count() == 1


def test_a_failed_backup_shows_why_and_what_to_do(account, alice_client, trakt):
    trakt.revoke_grants("alice-trakt")  # the user revoked the app at trakt
    backup = back_up_now(alice_client, account)
    assert backup.status == Backup.Status.FAILED
    response = alice_client.get("/")
    assert "The backup of alice-trakt failed" in find(response, ".messages").text
    why = find(response, f"#backup-{backup.pk} .detail-row").text
    assert "Why it failed: trakt no longer accepts the connection of alice-trakt" in why
    assert "What to do: Connect the account again (Reconnect)" in why
    card = find(response, f"#account-{account.pk}")
    assert "Must be connected again." in card.text
    assert not card.select("[data-action=backup-now]")  # nothing to back up with until reconnected
    response = alice_client.post(f"/accounts/{account.pk}/backup", follow=True)
    assert "must be connected again" in find(response, ".messages").text


def test_a_failed_backup_when_trakt_is_down(account, alice_client, trakt):
    trakt.inject("status", path=r"^/sync/history", times=None, status=503)
    backup = back_up_now(alice_client, account)
    assert backup.status == Backup.Status.FAILED
    why = find(alice_client.get("/"), f"#backup-{backup.pk} .detail-row").text
    assert "Why it failed: Trakt is having problems (503) after 7 attempts; try again later." in why
    assert "trakt could not be reached or was busy" in why


def test_live_progress_endpoint(account, alice_client):
    backup = Backup.objects.create(account=account, status=Backup.Status.RUNNING, started=timezone.now(),
                                   categories_total=30, categories_done=12, pages_fetched=41)
    row = find(alice_client.get("/"), f"#backup-{backup.pk}")
    assert row["data-status-url"] == f"/backups/{backup.pk}/status"
    bar = find(row, "progress")
    assert (bar["max"], bar["value"]) == ("30", "12")
    assert find(row, ".progress-text").text == "12 of 30 categories, 41 pages"
    data = alice_client.get(f"/backups/{backup.pk}/status").json()
    assert data["active"] and (data["categories_done"], data["categories_total"], data["pages_fetched"]) == (12, 30, 41)
    assert [element.tag for element in parse(data["html"]).children if not isinstance(element, str)] == ["tbody"]
    bar = find(data["html"], f"tbody#backup-{backup.pk} progress")
    assert (bar["max"], bar["value"]) == ("30", "12")

    Backup.objects.filter(pk=backup.pk).update(status=Backup.Status.SUCCESS, categories_done=30,
                                               archive_name="x.tar.gz", size=2048, finished=timezone.now(),
                                               item_counts={"sync/history": 5})
    data = alice_client.get(f"/backups/{backup.pk}/status").json()
    assert not data["active"] and data["status"] == "success"
    assert not find_all(data["html"], "progress")
    assert find(data["html"], "a.download")["href"] == f"/backups/{backup.pk}/download"
    cells = {td["data-label"]: td.text for td in find_all(data["html"], "td")}
    assert cells["Size"] == "2.0 KB" and cells["Items"].startswith("5 items")
    assert "succeeded, 5 items" in data["summary"]


def test_a_queued_backup_shows_an_indeterminate_bar(account, alice_client):
    backup = Backup.objects.create(account=account, status=Backup.Status.QUEUED)
    html = alice_client.get(f"/backups/{backup.pk}/status").json()["html"]
    assert "value" not in find(html, "progress").attrs  # no value: the bar is indeterminate
    assert find(html, ".progress-text").text == "waiting for a worker"


def test_change_the_schedule(account, alice_client):
    response = alice_client.post(f"/accounts/{account.pk}/schedule", {f"a{account.pk}-cron": " 30  4 * * 6 "})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.backup_cron == "30 4 * * 6"
    schedule = Schedule.objects.get(name=schedules.backup_schedule_name(account))
    assert schedule.cron == "30 4 * * 6"
    assert "alice-trakt is now backed up every Saturday at 04:30 (UTC time)" in find(alice_client.get("/"),
                                                                                        ".messages").text


@pytest.mark.parametrize("fields, cron, words", [
    ({"frequency": "daily", "time": "03:15"}, "15 3 * * *", "every day at 03:15"),
    ({"frequency": "weekly", "weekday": "1", "time": "22:05"}, "5 22 * * 1", "every Monday at 22:05"),
    ({"frequency": "monthly", "day": "28", "time": "00:00"}, "0 0 28 * *", "on day 28 of every month at 00:00"),
    ({"frequency": "custom", "cron": "0 */6 * * *", "time": "03:00"}, "0 */6 * * *", "every 6 hours"),
])
def test_a_preset_schedule_is_stored_as_cron_and_shown_in_words(account, alice_client, fields, cron, words):
    data = {f"a{account.pk}-{name}": value for name, value in fields.items()}
    assert alice_client.post(f"/accounts/{account.pk}/schedule", data).status_code == 302
    account.refresh_from_db()
    assert account.backup_cron == cron
    assert Schedule.objects.get(name=schedules.backup_schedule_name(account)).cron == cron
    response = alice_client.get("/")
    assert f"alice-trakt is now backed up {words}" in find(response, ".messages").text
    card = find(response, f"#account-{account.pk}")
    assert find(card, f"select[name=a{account.pk}-frequency] option[selected]")["value"] == fields["frequency"]
    assert f"runs {words}." in card.text


def test_a_preset_runs_at_its_time_in_the_installations_time_zone(account, alice_client, settings):
    settings.TIME_ZONE = "Pacific/Auckland"
    data = {f"a{account.pk}-frequency": "daily", f"a{account.pk}-time": "04:30"}
    alice_client.post(f"/accounts/{account.pk}/schedule", data)
    next_run = Schedule.objects.get(name=schedules.backup_schedule_name(account)).next_run
    local = timezone.localtime(next_run, zoneinfo.ZoneInfo("Pacific/Auckland"))
    assert (local.hour, local.minute) == (4, 30)
    assert "(Pacific/Auckland time)" in find(alice_client.get("/"), ".messages").text
    assert "Times are in Pacific/Auckland time" in find(alice_client.get("/"), f"#account-{account.pk}").text


@pytest.mark.parametrize("fields, message", [
    ({"frequency": "weekly", "weekday": "1", "time": ""}, "Give the time of day"),
    ({"frequency": "monthly", "day": "31", "time": "03:00"}, "on day: Select a valid choice"),
    ({"frequency": "daily", "time": "25:00"}, "at: Enter a valid time"),
    ({"frequency": "hourly", "time": "03:00"}, "Back up: Select a valid choice"),
])
def test_a_preset_that_cannot_be_is_explained_and_changes_nothing(account, alice_client, fields, message):
    data = {f"a{account.pk}-{name}": value for name, value in fields.items()}
    response = alice_client.post(f"/accounts/{account.pk}/schedule", data)
    assert response.status_code == 400
    assert message in find(response, f"form[action=/accounts/{account.pk}/schedule] .field-error").text
    account.refresh_from_db()
    assert account.backup_cron == ""


@pytest.mark.parametrize("value, message", [
    ("every day", "is not a valid cron expression"),
    ("*/5 * * * *", "Back up at most once an hour"),
    ("", "Enter a cron expression"),
    ("1 " * 80, "too long"),
    ("61 4 * * *", "is not a valid cron expression"),
])
def test_invalid_schedules_are_explained_and_change_nothing(account, alice_client, value, message):
    before = Schedule.objects.get(name=schedules.backup_schedule_name(account)).cron
    response = alice_client.post(f"/accounts/{account.pk}/schedule", {f"a{account.pk}-cron": value})
    assert response.status_code == 400
    form = find(response, f"form[action=/accounts/{account.pk}/schedule]")
    assert message in find(form, ".field-error").text
    if value.strip() and len(value) < 100:
        assert find(form, f"input[name=a{account.pk}-cron]")["value"] == value  # what was typed stays in the field
    account.refresh_from_db()
    assert account.backup_cron == ""
    assert Schedule.objects.get(name=schedules.backup_schedule_name(account)).cron == before


def test_auth_event_log(account, alice_client):
    AuthEvent.objects.create(account=account, kind=AuthEvent.Kind.REFRESH, ok=False, detail="trakt said no <b>")
    response = alice_client.get(f"/accounts/{account.pk}/events/")
    text = page_text(response)
    assert "Auth log of alice-trakt" in text
    assert "Code exchange" in text and "Connected; token valid until" in text
    assert "Refresh" in text and "trakt said no <b>" in text  # shown as text
    assert not find_all(response, "main b")  # not as markup


def test_account_page_pages_through_backups(account, alice_client):
    now = timezone.now()
    Backup.objects.bulk_create([
        Backup(account=account, status=Backup.Status.FAILED, error=f"failure {i}", created=now - timedelta(hours=i))
        for i in range(25)
    ])
    def errors_shown(response) -> set[str]:
        return {row.text.removeprefix("Why it failed: ") for row in find_all(response, ".error-text")}

    response = alice_client.get(f"/accounts/{account.pk}/")
    assert "Backups (25)" in page_text(response) and "Page 1 of 2" in page_text(response)
    assert errors_shown(response) == {f"failure {i}" for i in range(20)}
    response = alice_client.get(f"/accounts/{account.pk}/?page=2")
    assert errors_shown(response) == {f"failure {i}" for i in range(20, 25)}
    dashboard = alice_client.get("/")
    assert "See all 25 backups" in find(dashboard, ".more").text
    assert len(find_all(dashboard, "tbody.backup.status-failed")) == 5


def test_disconnect_and_keep_the_archives(account, alice_client, trakt):
    backup = back_up_now(alice_client, account)
    text = page_text(alice_client.get(f"/accounts/{account.pk}/disconnect/"))
    assert "Disconnect alice-trakt?" in text and "Keep its archives" in text and "Delete the account" in text
    response = alice_client.post(f"/accounts/{account.pk}/disconnect/", {"archives": "keep"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.status == Account.Status.DISCONNECTED and not account.refresh_token
    assert trakt.count(r"^/oauth/revoke$") == 1
    assert not Schedule.objects.filter(name__in=[schedules.backup_schedule_name(account),
                                                 schedules.refresh_schedule_name(account)]).exists()
    assert storage.exists(backup.archive_key)
    response = alice_client.get("/")
    assert "Disconnected alice-trakt. Its archives are kept" in find(response, ".messages").text
    assert find(response, f"#backup-{backup.pk} a.download")["href"] == f"/backups/{backup.pk}/download"
    redirected = not storage.is_local() and settings.S3_REDIRECT_DOWNLOADS  # to a signed URL of the bucket
    assert alice_client.get(f"/backups/{backup.pk}/download").status_code == (302 if redirected else 200)


def test_disconnect_and_delete_the_archives(account, alice_client, trakt):
    backup = back_up_now(alice_client, account)
    assert storage.exists(backup.archive_key)
    response = alice_client.post(f"/accounts/{account.pk}/disconnect/", {"archives": "delete"}, follow=True)
    assert "Disconnected alice-trakt and deleted its archives." in find(response, ".messages").text
    assert not Account.objects.exists() and not Backup.objects.exists()
    assert not storage.exists(backup.archive_key)
    if storage.is_local():
        assert not storage.local_path(backup.archive_key).parent.exists()
    assert trakt.count(r"^/oauth/revoke$") == 1


def test_disconnect_waits_for_a_running_backup(account, alice_client):
    Backup.objects.create(account=account, status=Backup.Status.RUNNING, started=timezone.now())
    response = alice_client.post(f"/accounts/{account.pk}/disconnect/", {"archives": "delete"}, follow=True)
    assert "is under way: wait for it to finish" in page_text(response)
    account.refresh_from_db()
    assert account.is_connected


def test_disconnect_needs_a_choice(account, alice_client):
    response = alice_client.post(f"/accounts/{account.pk}/disconnect/", {"archives": "maybe"})
    assert response.status_code == 200 and "Select a valid choice" in page_text(response)
    account.refresh_from_db()
    assert account.is_connected


def test_each_user_sees_only_their_accounts(account, trakt, bob, bob_client, charlie_client, alice_client):
    bobs = connect_account(trakt, "bob-trakt", bob)
    def accounts_shown(client) -> list[str]:
        return [card["data-account"] for card in find_all(client.get("/"), "section.card.account")]

    assert accounts_shown(bob_client) == ["bob-trakt"]
    assert accounts_shown(alice_client) == ["alice-trakt"]  # the admin too: all accounts are in the admin
    assert accounts_shown(charlie_client) == []
    for client, others in ((bob_client, ["alice-trakt"]), (alice_client, ["bob-trakt"]),
                           (charlie_client, ["alice-trakt", "bob-trakt"])):
        page = client.get("/").content.decode()
        assert not [name for name in others if name in page]  # not even in an attribute
    assert bobs.owner == bob


def make_accounts(owner, count: int, backups_each: int = 4) -> list[Account]:
    accounts = []
    now = timezone.now()
    for i in range(count):
        account = Account.objects.create(owner=owner, username=f"user{i}", trakt_id=f"id-{owner.pk}-{i}",
                                         access_token="a", refresh_token="r",
                                         token_expires_at=now + timedelta(days=1))
        schedules.ensure_account_schedules(account)
        for j in range(backups_each):
            Backup.objects.create(account=account, status=Backup.Status.SUCCESS, archive_name=f"b{j}.tar.gz",
                                  size=1000, item_counts={"sync/history": j}, created=now - timedelta(days=j),
                                  started=now - timedelta(days=j), finished=now - timedelta(days=j, seconds=-30))
        Backup.objects.create(account=account, status=Backup.Status.FAILED, error="boom",
                              created=now - timedelta(days=10))
        accounts.append(account)
    return accounts


def test_dashboard_queries_do_not_grow_with_accounts_or_backups(alice, bob, alice_client, bob_client,
                                                                django_assert_num_queries):
    from backups.models import AppCredentials

    AppCredentials.objects.create(client_id="cid", client_secret="secret")
    make_accounts(alice, 1)
    make_accounts(bob, 5, backups_each=8)
    alice_client.get("/")
    bob_client.get("/")
    with CaptureQueriesContext(connection) as one:
        page = alice_client.get("/")
    assert len(find_all(page, "section.card.account")) == 1
    assert len(one) <= 8, [q["sql"] for q in one.captured_queries]
    with django_assert_num_queries(len(one)):
        page = bob_client.get("/")
    assert len(find_all(page, "section.card.account")) == 5


def test_commands_in_messages_are_shown_as_code_and_the_rest_stays_escaped(account, alice_client):
    backup = back_up_now(alice_client, account)
    Backup.objects.filter(pk=backup.pk).update(status=Backup.Status.FAILED, error_kind=Backup.ErrorKind.RECONNECT,
                                               error="Run `python manage.py trakt_auth -u <b>x</b>` again.")
    reason = find(alice_client.get("/"), f"#backup-{backup.pk} .error-text")
    assert ([code.text for code in reason.select("code")], reason.select("b")) == (
        ["python manage.py trakt_auth -u <b>x</b>"], [])


def test_the_account_page_carries_the_cards_actions(account, alice_client):
    card = find(alice_client.get("/"), f"#account-{account.pk}")
    page = find(alice_client.get(f"/accounts/{account.pk}/"), f"#account-{account.pk}")
    def actions(section):
        return [(e.tag, e.get("data-action") or e.get("href")) for e in find(section, ".actions").iter()
                if e.tag in ("a", "button")]

    on_the_card = actions(card)
    on_the_card.remove(("a", f"/accounts/{account.pk}/"))  # "All backups": the page itself
    assert actions(page) == on_the_card and len(on_the_card) == 6
    assert find(page, f"form[action=/accounts/{account.pk}/schedule] input[name=next]")["value"] == \
        f"/accounts/{account.pk}/"
    # a schedule that cannot be saved, from the account's page: back to it, with the reason
    response = alice_client.post(f"/accounts/{account.pk}/schedule", {
        f"a{account.pk}-frequency": "custom", f"a{account.pk}-cron": "*/5 * * * *", "next": f"/accounts/{account.pk}/"})
    assert response.status_code == 302 and response["Location"] == f"/accounts/{account.pk}/"
    assert "Back up at most once an hour" in find(alice_client.get(response["Location"]), ".messages").text
    response = alice_client.post(f"/accounts/{account.pk}/verify", {"next": f"/accounts/{account.pk}/"})
    assert response["Location"] == f"/accounts/{account.pk}/"  # the page's actions come back to the page
