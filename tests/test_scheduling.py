"""Schedules, the worker, retention and notifications, with django-q2's real scheduler and worker code."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule
from django_q.scheduler import scheduler

from django.core.files.base import ContentFile

from backups import storage
from backups.models import Account, Backup
from backups.services import retention, schedules
from backups.services.backup_run import BackupAlreadyRunning, queue_backup, recover_stale_backups, start_backup
from backups.services.grants import REFRESH_MARGIN
from backups.tasks import refresh_check
from tests.support import app_env, connect_account, damage_archive, find, page_text, start_manage

pytestmark = pytest.mark.django_db(transaction=True)


def account_schedules(account):
    return Schedule.objects.filter(name__in=[schedules.backup_schedule_name(account),
                                             schedules.refresh_schedule_name(account)])


def test_connecting_creates_exactly_two_schedules_idempotently(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user)
    assert account_schedules(account).count() == 2
    backup = Schedule.objects.get(name=schedules.backup_schedule_name(account))
    assert backup.schedule_type == Schedule.CRON and backup.func == "backups.tasks.scheduled_backup"
    assert backup.cron == schedules.default_backup_cron(account)
    assert backup.next_run > timezone.now()
    # reconnecting and migrating again never add a schedule
    connect_account_again = trakt.issue_code("alice", redirect_uri="urn:ietf:wg:oauth:2.0:oob")
    from backups.services.grants import connect_with_code

    assert connect_with_code(connect_account_again, admin_user).pk == account.pk
    call_command("migrate", verbosity=0)
    assert account_schedules(account).count() == 2
    assert Schedule.objects.filter(name=schedules.MAINTENANCE_NAME).count() == 1
    # disconnecting removes them
    from backups.services.grants import revoke_grant

    revoke_grant(account)
    schedules.remove_account_schedules(account)
    assert account_schedules(account).count() == 0
    call_command("migrate", verbosity=0)
    assert account_schedules(account).count() == 0


def test_default_times_are_spread_over_accounts(admin_user):
    crons = {schedules.default_backup_cron(Account(pk=pk)) for pk in range(1, 41)}
    assert len(crons) > 30
    for cron in crons:
        minute, hour, _, _, weekday = cron.split()
        assert 1 <= int(hour) <= 5 and weekday == "6"


def test_cron_validation_and_words(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user)
    assert schedules.set_backup_cron(account, " 44  4 * * 6 ") == "44 4 * * 6"
    assert Schedule.objects.get(name=schedules.backup_schedule_name(account)).cron == "44 4 * * 6"
    assert "04:44" in schedules.describe_cron("44 4 * * 6") and "Saturday" in schedules.describe_cron("44 4 * * 6")
    for bad in ["", "every day", "61 4 * * *", "* * * * *", "1 2 3", "x" * 500, "1 2 * * 6\x00"]:
        with pytest.raises(schedules.InvalidCron):
            schedules.set_backup_cron(account, bad)
    account.refresh_from_db()
    assert account.backup_cron == "44 4 * * 6"


def test_a_due_schedule_produces_an_archive(trakt, admin_user, settings):
    account = connect_account(trakt, "alice", admin_user, profile="small")
    Schedule.objects.filter(name=schedules.backup_schedule_name(account)).update(
        next_run=timezone.now() - timedelta(minutes=1))
    scheduler()  # django-q2's own scheduler; the cluster runs sync in tests, so the task runs here
    backup = Backup.objects.get(account=account)
    assert backup.status == Backup.Status.SUCCESS and backup.trigger == Backup.Trigger.SCHEDULE
    assert storage.exists(backup.archive_key)
    assert Schedule.objects.get(name=schedules.backup_schedule_name(account)).next_run > timezone.now()


def test_refresh_check_refreshes_only_near_expiry(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user)
    Account.objects.filter(pk=account.pk).update(token_expires_at=timezone.now() + timedelta(days=6))
    trakt.reset_log()
    assert refresh_check(account.pk) == "still valid"
    assert trakt.count(path_regex="^/oauth/token$") == 0
    Account.objects.filter(pk=account.pk).update(token_expires_at=timezone.now() + REFRESH_MARGIN - timedelta(minutes=1))
    Schedule.objects.filter(name=schedules.refresh_schedule_name(account)).update(
        next_run=timezone.now() - timedelta(minutes=1))
    scheduler()
    assert trakt.count(path_regex="^/oauth/token$") == 1
    account.refresh_from_db()
    assert account.token_expires_at > timezone.now() + timedelta(hours=20)


def test_second_back_up_now_does_not_start_another(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user)
    running = start_backup(account)
    with pytest.raises(BackupAlreadyRunning):
        queue_backup(account)
    from backups.tasks import scheduled_backup

    assert scheduled_backup(account.pk) == "skipped: a backup is already running"
    assert Backup.objects.filter(account=account).count() == 1
    assert running.status == Backup.Status.QUEUED


def test_run_left_running_by_a_killed_worker_is_recovered(trakt, admin_user, settings):
    account = connect_account(trakt, "alice", admin_user)
    dead = start_backup(account)
    folder = settings.ARCHIVE_DIR / "alice"
    leftover = folder / ".backup-alice-20260101T000000Z.partial" / "backup-alice-20260101T000000Z"
    leftover.mkdir(parents=True)
    (leftover / "history.json").write_text("[")
    (folder / "backup-alice-20260101T000000Z.tar.gz.tmp").write_bytes(b"half")
    Backup.objects.filter(pk=dead.pk).update(status=Backup.Status.RUNNING, started=timezone.now() - timedelta(hours=3),
                                             heartbeat=timezone.now() - timedelta(hours=2))
    settings.BACKUP_TIMEOUT = 3600
    assert recover_stale_backups() == 1
    dead.refresh_from_db()
    assert dead.status == Backup.Status.FAILED and "stopped without finishing" in dead.error
    assert not any(p.name.endswith((".partial", ".tmp")) for p in folder.iterdir())
    backup = queue_backup(account)
    assert backup.status == Backup.Status.SUCCESS


def make_success(account, days_ago, **fields):
    created = timezone.now() - timedelta(days=days_ago)
    backup = Backup.objects.create(account=account, status=Backup.Status.SUCCESS, created=created, started=created,
                                   finished=created, archive_name=f"backup-{account.username}-{days_ago:04d}.tar.gz",
                                   item_counts={"sync/history": 100}, **fields)
    storage.storage().save(backup.archive_key, ContentFile(b"archive %d" % days_ago))
    return backup


class retention_path:
    """The archive of a backup in the archive storage, wherever that is."""

    def __init__(self, backup):
        self.key = backup.archive_key

    def exists(self) -> bool:
        return storage.exists(self.key)

    def unlink(self) -> None:
        storage.delete(self.key)


def test_retention_keeps_exactly_what_it_promises(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user)
    Account.objects.filter(pk=account.pk).update(keep_last=3, keep_monthly=4)
    account.refresh_from_db()
    ages = [0, 1, 2, 3, 4, 10, 20, 40, 45, 70, 100, 130, 200, 400]
    made = {age: make_success(account, age) for age in ages}
    pinned = make_success(account, 500, pinned=True)
    retention.prune(account)
    left = set(Backup.objects.filter(account=account).values_list("pk", flat=True))
    expected = {made[a].pk for a in (0, 1, 2)} | {pinned.pk}
    now = timezone.localtime()
    for offset in range(4):  # newest backup of each of the last 4 calendar months
        year, month = divmod(now.year * 12 + now.month - 1 - offset, 12)
        in_month = [b for b in made.values() if (timezone.localtime(b.created).year, timezone.localtime(b.created).month)
                    == (year, month + 1)]
        if in_month:
            expected.add(max(in_month, key=lambda b: b.created).pk)
    assert left == expected
    for age, backup in made.items():
        assert retention_path(backup).exists() == (backup.pk in expected), age
    # a record whose file is gone goes too, but never the newest successful one's file is deleted
    newest = made[0]
    retention_path(made[1]).unlink()
    retention.prune(account)
    assert not Backup.objects.filter(pk=made[1].pk).exists()
    assert Backup.objects.filter(pk=newest.pk).exists() and retention_path(newest).exists()


def test_retention_never_deletes_the_newest_success(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user)
    Account.objects.filter(pk=account.pk).update(keep_last=0, keep_monthly=0)
    account.refresh_from_db()
    old = make_success(account, 900)
    retention.prune(account)
    assert Backup.objects.filter(pk=old.pk).exists() and retention_path(old).exists()


def test_identical_content_is_stored_once(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user)
    first = queue_backup(account)
    time.sleep(1.1)  # archive names carry the second
    second = queue_backup(account)
    second.refresh_from_db()
    assert second.status == Backup.Status.SUCCESS
    assert second.same_as_id == first.pk and second.archive_name == first.archive_name
    listing = storage.storage().listdir(account.archive_folder)[1]
    assert [name for name in listing if name.endswith(".tar.gz")] == [first.archive_name]
    trakt.add_plays("alice", 3)
    time.sleep(1.1)
    third = queue_backup(account)
    third.refresh_from_db()
    assert third.same_as_id is None and third.archive_name != first.archive_name


class AppriseTarget:
    """A real HTTP endpoint for Apprise's json:// notifications."""

    def __init__(self):
        self.received: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def apprise_target(settings):
    target = AppriseTarget()
    settings.APPRISE_URLS = [target.url]
    yield target
    target.close()


def test_failure_sends_one_notification(trakt, admin_user, apprise_target):
    account = connect_account(trakt, "alice", admin_user)
    mail.outbox.clear()
    trakt.inject("status", path=r"^/sync/history", times=100, status=500)
    backup = queue_backup(account)
    assert backup.status == Backup.Status.FAILED
    assert len(mail.outbox) == 1 and "failed" in mail.outbox[0].subject
    assert len(apprise_target.received) == 1 and "failed" in apprise_target.received[0]["title"]


def test_revoked_grant_sends_one_notification(trakt, admin_user, apprise_target):
    account = connect_account(trakt, "alice", admin_user)
    mail.outbox.clear()
    trakt.revoke_grants("alice")
    Account.objects.filter(pk=account.pk).update(token_expires_at=timezone.now())
    assert refresh_check(account.pk) == "must be connected again"
    assert len(mail.outbox) == 1 and "connected again" in mail.outbox[0].subject
    assert len(apprise_target.received) == 1
    account.refresh_from_db()
    assert account.status == Account.Status.NEEDS_RECONNECT


def test_large_drop_notifies_once_and_pins_the_previous_archive(trakt, admin_user, apprise_target, settings):
    settings.SITE_URL = "https://backup.example.net"
    account = connect_account(trakt, "alice", admin_user, profile="small")
    first = queue_backup(account)
    history = trakt.user_data("alice")["/sync/history"]
    for item in history[: len(history) // 4]:
        trakt.remove_history_item("alice", item["id"])
    mail.outbox.clear()
    time.sleep(1.1)
    second = queue_backup(account)
    assert second.status == Backup.Status.SUCCESS
    assert len(mail.outbox) == 1 and "drop" in mail.outbox[0].subject.lower()
    assert "sync/history" in mail.outbox[0].body
    # straight to the restore plan of the pinned archive
    assert f"https://backup.example.net/backups/{first.pk}/restore/" in mail.outbox[0].body
    assert f"trakt_restore -u alice --backup {first.pk} --dry-run" in mail.outbox[0].body
    assert len(apprise_target.received) == 1
    first.refresh_from_db()
    assert first.pinned
    Account.objects.filter(pk=account.pk).update(keep_last=1, keep_monthly=0)
    account.refresh_from_db()
    retention.prune(account)
    assert Backup.objects.filter(pk=first.pk).exists()


def test_real_qcluster_takes_a_due_backup_and_stops_cleanly(trakt, admin_user, settings):
    account = connect_account(trakt, "alice", admin_user)
    Schedule.objects.filter(name=schedules.backup_schedule_name(account)).update(
        next_run=timezone.now() - timedelta(minutes=1))
    env = app_env(trakt, Q_SYNC="0")
    proc = start_manage("qcluster", env=env, stdin=None, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if Backup.objects.filter(account=account, status=Backup.Status.SUCCESS).exists():
                break
            time.sleep(0.5)
        backup = Backup.objects.get(account=account)
        assert backup.status == Backup.Status.SUCCESS, backup.error
        assert storage.exists(backup.archive_key)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0, output
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no worker left behind


def test_daily_verification_marks_damage_once_and_the_dashboard_stops_serving_it(trakt, admin_user, apprise_target):
    from django.test import Client

    from backups.tasks import verify_archives

    account = connect_account(trakt, "alice", admin_user)
    backup = queue_backup(account)
    assert verify_archives() == "1 checked, 0 damaged or missing"
    damage_archive(backup.archive_key, 1 / 3)
    mail.outbox.clear()
    assert verify_archives() == "1 checked, 1 damaged or missing"
    assert verify_archives() == "1 checked, 1 damaged or missing"
    assert len(mail.outbox) == 1 and "damaged" in mail.outbox[0].subject
    assert len(apprise_target.received) == 1
    client = Client()
    client.force_login(admin_user)
    row = find(client.get("/"), f"#backup-{backup.pk}")
    assert find(row, ".integrity-bad").text == "Damaged or missing" and not row.select("a.download")
    assert f"/backups/{backup.pk}/download" not in client.get("/").content.decode()
    response = client.get(f"/backups/{backup.pk}/download")
    assert response.status_code == 404 and "integrity check" in page_text(response)
    assert Schedule.objects.filter(name=schedules.VERIFY_NAME).count() == 1
