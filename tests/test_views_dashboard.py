"""The dashboard: accounts, backing up now, live progress, schedules, the auth log and disconnecting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Schedule

from backups import storage
from backups.models import Account, AuthEvent, Backup
from backups.services import schedules
from tests.conftest import connect_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(emu, alice):
    return connect_account(emu, "alice-trakt", alice)


def back_up_now(client, account) -> Backup:
    """Press "Back up now": with Q_CLUSTER sync the run completes within the request."""
    response = client.post(f"/accounts/{account.pk}/backup")
    assert response.status_code == 302 and response["Location"] == f"/#account-{account.pk}"
    return Backup.objects.filter(account=account).latest("created")


def test_empty_dashboard_invites_to_connect(emu, alice_client):
    page = alice_client.get("/").content.decode()
    assert "No trakt account yet" in page and 'href="/connect/device/"' in page


def test_dashboard_shows_the_account(account, alice_client):
    page = alice_client.get("/").content.decode()
    assert f'id="account-{account.pk}"' in page and "alice-trakt" in page
    assert "Connected; token valid until" in page
    assert "Last backup</dt>\n    <dd" in page and "None yet." in page
    cron = schedules.backup_cron(account)
    assert f'value="{cron}"' in page
    assert f"runs {schedules.describe_cron(cron)}" in page
    assert f'href="/accounts/{account.pk}/events/"' in page
    assert 'href="/connect/device/?username=alice-trakt"' in page
    assert f'href="/accounts/{account.pk}/disconnect/"' in page
    assert f'action="/accounts/{account.pk}/backup"' in page


def test_back_up_now_and_the_backup_row(account, alice_client):
    backup = back_up_now(alice_client, account)
    assert backup.status == Backup.Status.SUCCESS and backup.trigger == Backup.Trigger.MANUAL
    page = alice_client.get("/").content.decode()
    assert "The backup of alice-trakt is done." in page
    assert f'id="backup-{backup.pk}"' in page and "Succeeded" in page
    assert f'href="/backups/{backup.pk}/download"' in page
    assert f"{backup.total_items:,} items" in page
    for name in ("sync / history", "users / settings"):
        assert name in page  # the per-category counts
    from django.template.defaultfilters import filesizeformat

    assert str(filesizeformat(backup.size)) in page
    assert "Manual" in page
    assert "<progress" not in page


def test_an_identical_backup_says_so(account, alice_client):
    first = back_up_now(alice_client, account)
    second = back_up_now(alice_client, account)
    Backup.objects.filter(pk=second.pk).update(same_as=first)  # as retention records identical content
    page = alice_client.get("/").content.decode()
    assert "Same data as the previous backup" in page


def test_back_up_now_while_one_runs(account, alice_client):
    Backup.objects.create(account=account, status=Backup.Status.RUNNING, started=timezone.now(),
                          heartbeat=timezone.now())
    response = alice_client.post(f"/accounts/{account.pk}/backup", follow=True)
    assert "A backup of alice-trakt is already under way; wait for it to finish." in response.content.decode()
    assert Backup.objects.count() == 1


def test_a_failed_backup_shows_why_and_what_to_do(account, alice_client, emu):
    emu.revoke_grants("alice-trakt")  # the user revoked the app at trakt
    backup = back_up_now(alice_client, account)
    assert backup.status == Backup.Status.FAILED
    page = alice_client.get("/").content.decode()
    assert "The backup of alice-trakt failed" in page
    assert "Why it failed:</strong> trakt no longer accepts the connection of alice-trakt" in page
    assert "What to do:</strong> Connect the account again (Reconnect)" in page
    assert "Must be connected again." in page
    assert "Back up now</button>" not in page  # nothing to back up with until reconnected
    response = alice_client.post(f"/accounts/{account.pk}/backup", follow=True)
    assert "must be connected again" in response.content.decode()


def test_a_failed_backup_when_trakt_is_down(account, alice_client, emu):
    emu.inject("status", path=r"^/sync/history", times=None, status=503)
    backup = back_up_now(alice_client, account)
    assert backup.status == Backup.Status.FAILED
    page = alice_client.get("/").content.decode()
    assert "Trakt is having problems (503) after 7 attempts; try again later." in page
    assert "trakt could not be reached or was busy" in page


def test_live_progress_endpoint(account, alice_client):
    backup = Backup.objects.create(account=account, status=Backup.Status.RUNNING, started=timezone.now(),
                                   categories_total=30, categories_done=12, pages_fetched=41)
    page = alice_client.get("/").content.decode()
    assert f'data-status-url="/backups/{backup.pk}/status"' in page
    assert '<progress max="30" value="12">' in page and "12 of 30 categories, 41 pages" in page
    data = alice_client.get(f"/backups/{backup.pk}/status").json()
    assert data["active"] and (data["categories_done"], data["categories_total"], data["pages_fetched"]) == (12, 30, 41)
    assert '<progress max="30" value="12">' in data["html"] and data["html"].strip().startswith("<tbody")

    Backup.objects.filter(pk=backup.pk).update(status=Backup.Status.SUCCESS, categories_done=30,
                                               archive_name="x.tar.gz", size=2048, finished=timezone.now(),
                                               item_counts={"sync/history": 5})
    data = alice_client.get(f"/backups/{backup.pk}/status").json()
    assert not data["active"] and data["status"] == "success"
    assert "<progress" not in data["html"] and f'href="/backups/{backup.pk}/download"' in data["html"]
    assert "2.0" in data["html"] and "5 items" in data["html"]
    assert "succeeded, 5 items" in data["summary"]


def test_a_queued_backup_shows_an_indeterminate_bar(account, alice_client):
    backup = Backup.objects.create(account=account, status=Backup.Status.QUEUED)
    html = alice_client.get(f"/backups/{backup.pk}/status").json()["html"]
    assert "<progress>" in html and "waiting for a worker" in html


def test_change_the_schedule(account, alice_client):
    response = alice_client.post(f"/accounts/{account.pk}/schedule", {f"a{account.pk}-cron": " 30  4 * * 6 "})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.backup_cron == "30 4 * * 6"
    schedule = Schedule.objects.get(name=schedules.backup_schedule_name(account))
    assert schedule.cron == "30 4 * * 6"
    page = alice_client.get("/").content.decode()
    assert "alice-trakt is now backed up at 04:30, only on Saturday" in page


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
    page = response.content.decode()
    assert message in page and 'class="field-error"' in page
    if value.strip() and len(value) < 100:
        assert f'value="{value}"' in page  # what was typed stays in the field
    account.refresh_from_db()
    assert account.backup_cron == ""
    assert Schedule.objects.get(name=schedules.backup_schedule_name(account)).cron == before


def test_auth_event_log(account, alice_client):
    AuthEvent.objects.create(account=account, kind=AuthEvent.Kind.REFRESH, ok=False, detail="trakt said no <b>")
    page = alice_client.get(f"/accounts/{account.pk}/events/").content.decode()
    assert "Auth log of alice-trakt" in page
    assert "Code exchange" in page and "Connected; token valid until" in page
    assert "Refresh" in page and "trakt said no &lt;b&gt;" in page


def test_account_page_pages_through_backups(account, alice_client):
    now = timezone.now()
    Backup.objects.bulk_create([
        Backup(account=account, status=Backup.Status.FAILED, error=f"failure {i}", created=now - timedelta(hours=i))
        for i in range(25)
    ])
    page = alice_client.get(f"/accounts/{account.pk}/").content.decode()
    assert "Backups (25)" in page and "Page 1 of 2" in page and "failure 0" in page and "failure 24" not in page
    page = alice_client.get(f"/accounts/{account.pk}/?page=2").content.decode()
    assert "failure 24" in page and "failure 0<" not in page
    dashboard = alice_client.get("/").content.decode()
    assert "See all 25 backups" in dashboard and dashboard.count('class="backup status-failed"') == 5


def test_disconnect_and_keep_the_archives(account, alice_client, emu):
    backup = back_up_now(alice_client, account)
    page = alice_client.get(f"/accounts/{account.pk}/disconnect/").content.decode()
    assert "Disconnect alice-trakt?" in page and "Keep its archives" in page and "Delete the account" in page
    response = alice_client.post(f"/accounts/{account.pk}/disconnect/", {"archives": "keep"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.status == Account.Status.DISCONNECTED and not account.refresh_token
    assert emu.count(r"^/oauth/revoke$") == 1
    assert not Schedule.objects.filter(name__in=[schedules.backup_schedule_name(account),
                                                 schedules.refresh_schedule_name(account)]).exists()
    assert storage.exists(backup.archive_key)
    page = alice_client.get("/").content.decode()
    assert "Disconnected alice-trakt. Its archives are kept" in page
    assert f'href="/backups/{backup.pk}/download"' in page
    assert alice_client.get(f"/backups/{backup.pk}/download").status_code in (200, 302)  # 302: S3 signed URL


def test_disconnect_and_delete_the_archives(account, alice_client, emu):
    backup = back_up_now(alice_client, account)
    assert storage.exists(backup.archive_key)
    response = alice_client.post(f"/accounts/{account.pk}/disconnect/", {"archives": "delete"}, follow=True)
    assert "Disconnected alice-trakt and deleted its archives." in response.content.decode()
    assert not Account.objects.exists() and not Backup.objects.exists()
    assert not storage.exists(backup.archive_key)
    if storage.is_local():
        assert not storage.local_path(backup.archive_key).parent.exists()
    assert emu.count(r"^/oauth/revoke$") == 1


def test_disconnect_waits_for_a_running_backup(account, alice_client):
    Backup.objects.create(account=account, status=Backup.Status.RUNNING, started=timezone.now())
    response = alice_client.post(f"/accounts/{account.pk}/disconnect/", {"archives": "delete"}, follow=True)
    assert "is under way: wait for it to finish" in response.content.decode()
    account.refresh_from_db()
    assert account.is_connected


def test_disconnect_needs_a_choice(account, alice_client):
    response = alice_client.post(f"/accounts/{account.pk}/disconnect/", {"archives": "maybe"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    account.refresh_from_db()
    assert account.is_connected


def test_each_user_sees_only_their_accounts(account, emu, bob, bob_client, charlie_client, alice_client):
    bobs = connect_account(emu, "bob-trakt", bob)
    page = bob_client.get("/").content.decode()
    assert "bob-trakt" in page and "alice-trakt" not in page
    page = alice_client.get("/").content.decode()
    assert "alice-trakt" in page and "bob-trakt" not in page  # the admin too: all accounts are in the admin
    page = charlie_client.get("/").content.decode()
    assert "alice-trakt" not in page and "bob-trakt" not in page
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
        page = alice_client.get("/").content.decode()
    assert page.count('class="card account"') == 1
    assert len(one) <= 8, [q["sql"] for q in one.captured_queries]
    with django_assert_num_queries(len(one)):
        page = bob_client.get("/").content.decode()
    assert page.count('class="card account"') == 5
