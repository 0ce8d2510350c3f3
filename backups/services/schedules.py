"""Per-account schedules in django-q2: a backup (cron) and a frequent refresh check.

Created when an account is connected and removed when it is disconnected.
Every function here is idempotent: it updates the one schedule of each name
and deletes any duplicate, so reconnecting or re-running migrations never
adds a second one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dt_time

from croniter import CroniterError, croniter
from cron_descriptor import ExpressionDescriptor, Options
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from backups.models import Account

REFRESH_CHECK_MINUTES = 60
MAINTENANCE_NAME = "maintenance"
HEARTBEAT_NAME, HEARTBEAT_MINUTES = "worker-heartbeat", 5
MAX_CRON_LENGTH = 100


class InvalidCron(ValueError):
    pass


def default_backup_cron(account: Account) -> str:
    """Weekly, on Saturday night, at a minute and hour spread per account (01:00 to 05:59)."""
    seed = int(hashlib.sha256(f"trakt-backup:{account.pk}".encode()).hexdigest()[:8], 16)
    return f"{seed % 60} {1 + (seed // 60) % 5} * * 6"


def validate_cron(expression: str) -> str:
    expression = " ".join((expression or "").split())
    if not expression:
        raise InvalidCron("Enter a cron expression, for example `30 4 * * 6` (Saturdays at 04:30).")
    if len(expression) > MAX_CRON_LENGTH or not expression.isprintable():
        raise InvalidCron("That cron expression is too long or contains characters it cannot have.")
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise InvalidCron(
            f"`{expression}` is not a valid cron expression: use five fields, minute hour day month weekday, "
            "for example `30 4 * * 6`."
        )
    try:
        runs = croniter(expression, timezone.now())
        first, second = runs.get_next(datetime), runs.get_next(datetime)
    except CroniterError:  # e.g. February 30th: valid syntax, never happens
        raise InvalidCron(f"`{expression}` never happens: pick a day that exists, for example `30 4 * * 6`.") from None
    if (second - first).total_seconds() < 3600:
        raise InvalidCron("Back up at most once an hour: trakt's rate limits are shared by every backup.")
    return expression


def describe_cron(expression: str) -> str:
    options = Options()
    options.use_24hour_time_format = True
    try:
        text = ExpressionDescriptor(expression, options).get_description()
    except Exception:  # noqa: BLE001 - a description is a nicety, never an error
        return expression
    return text[:1].lower() + text[1:] if text.startswith("At ") else text


# -- the presets: a schedule people can set ---------------------------------------------------------
# Stored as cron like any other schedule; a cron of one of these shapes reads back as its preset.

WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")  # cron's numbers
FREQUENCIES = {"daily": "Every day", "weekly": "Every week", "monthly": "Every month", "custom": "Custom (cron)"}
MONTH_DAYS = 28  # every month has them
PRESET_SHAPE = re.compile(r"^(\d{1,2}) (\d{1,2}) (\*|\d{1,2}) \* (\*|\d)$")


@dataclass(frozen=True)
class Preset:
    """A schedule as the dashboard shows it: how often, and at what time of day in ``TIME_ZONE``."""

    frequency: str = "weekly"
    time: dt_time = dt_time(3, 0)
    weekday: int = 6  # cron's numbering: 0 is Sunday
    day: int = 1  # of the month
    cron: str = ""  # the expression itself, for "custom"

    def to_cron(self) -> str:
        """The cron expression, validated as any other; InvalidCron with a sentence when it cannot be one."""
        minute, hour = self.time.minute, self.time.hour
        if self.frequency == "custom":
            return validate_cron(self.cron)
        if self.frequency == "daily":
            return f"{minute} {hour} * * *"
        if self.frequency == "weekly" and 0 <= self.weekday < len(WEEKDAYS):
            return f"{minute} {hour} * * {self.weekday}"
        if self.frequency == "monthly" and 1 <= self.day <= MONTH_DAYS:
            return f"{minute} {hour} {self.day} * *"
        raise InvalidCron("Pick how often: every day, every week on a day, every month on a day from 1 to 28, "
                          "or a custom cron expression.")


def preset_of(cron: str) -> Preset:
    """The preset a cron expression is, or "custom" (with the expression) when it is none of them."""
    match = PRESET_SHAPE.match(cron or "")
    if match:
        minute, hour, day, weekday = match.groups()
        if int(minute) < 60 and int(hour) < 24:
            at = dt_time(int(hour), int(minute))
            if day == "*" and weekday == "*":
                return Preset("daily", at, cron=cron)
            if day == "*" and int(weekday) < len(WEEKDAYS):
                return Preset("weekly", at, weekday=int(weekday), cron=cron)
            if weekday == "*" and 1 <= int(day) <= MONTH_DAYS:
                return Preset("monthly", at, day=int(day), cron=cron)
    return Preset("custom", cron=cron)


def describe_schedule(cron: str) -> str:
    """The schedule in words: "every Saturday at 04:30", or cron-descriptor's words for a custom one."""
    preset = preset_of(cron)
    at = preset.time.strftime("%H:%M")
    if preset.frequency == "daily":
        return f"every day at {at}"
    if preset.frequency == "weekly":
        return f"every {WEEKDAYS[preset.weekday]} at {at}"
    if preset.frequency == "monthly":
        return f"on day {preset.day} of every month at {at}"
    words = describe_cron(cron)
    return words[:1].lower() + words[1:]


def backup_cron(account: Account) -> str:
    return account.backup_cron or default_backup_cron(account)


def _next_run(cron: str) -> datetime:
    return croniter(cron, timezone.localtime()).get_next(datetime)


def _upsert(name: str, **fields) -> Schedule:
    schedules = list(Schedule.objects.filter(name=name).order_by("id"))
    for extra in schedules[1:]:
        extra.delete()
    schedule = schedules[0] if schedules else Schedule(name=name)
    for key, value in fields.items():
        setattr(schedule, key, value)
    schedule.save()
    return schedule


def backup_schedule_name(account: Account) -> str:
    return f"backup:account-{account.pk}"


def refresh_schedule_name(account: Account) -> str:
    return f"refresh:account-{account.pk}"


def ensure_account_schedules(account: Account) -> None:
    with transaction.atomic():
        cron = backup_cron(account)
        existing = Schedule.objects.filter(name=backup_schedule_name(account)).first()
        keep_next = existing is not None and existing.cron == cron and existing.next_run
        _upsert(backup_schedule_name(account), func="backups.tasks.scheduled_backup", args=repr(account.pk),
                schedule_type=Schedule.CRON, cron=cron, repeats=-1,
                next_run=existing.next_run if keep_next else _next_run(cron))
        existing = Schedule.objects.filter(name=refresh_schedule_name(account)).first()
        _upsert(refresh_schedule_name(account), func="backups.tasks.refresh_check", args=repr(account.pk),
                schedule_type=Schedule.MINUTES, minutes=REFRESH_CHECK_MINUTES, repeats=-1,
                next_run=existing.next_run if existing and existing.next_run else timezone.now())


def set_backup_cron(account: Account, expression: str, *, blank_means_default: bool = False) -> str:
    """Validate and store the account's backup schedule, and update its schedule (if it is connected).

    ``blank_means_default``: an empty expression goes back to the default schedule (the admin's form); the
    dashboard asks for an expression instead.
    """
    cron = "" if blank_means_default and not (expression or "").strip() else validate_cron(expression)
    account.backup_cron = cron
    account.save(update_fields=["backup_cron"])
    if account.is_connected:
        ensure_account_schedules(account)
    return backup_cron(account)


def remove_account_schedules(account: Account) -> None:
    Schedule.objects.filter(name__in=[backup_schedule_name(account), refresh_schedule_name(account)]).delete()


def ensure_global_schedules() -> None:
    """Housekeeping every 15 minutes: recover dead runs, apply retention, re-check schedules. And the workers'
    heartbeat every few minutes, for the doctor (its successes are not kept in the task list)."""
    existing = Schedule.objects.filter(name=MAINTENANCE_NAME).first()
    _upsert(MAINTENANCE_NAME, func="backups.tasks.maintenance", schedule_type=Schedule.MINUTES, minutes=15,
            repeats=-1, next_run=existing.next_run if existing and existing.next_run else timezone.now())
    existing = Schedule.objects.filter(name=HEARTBEAT_NAME).first()
    _upsert(HEARTBEAT_NAME, func="backups.tasks.worker_heartbeat", schedule_type=Schedule.MINUTES,
            minutes=HEARTBEAT_MINUTES, repeats=-1, kwargs=repr({"q_options": {"save": False}}),
            next_run=existing.next_run if existing and existing.next_run else timezone.now())


VERIFY_NAME = "verify-archives"


def ensure_verify_schedule() -> None:
    """Every archive re-checked against its checksums once a day."""
    existing = Schedule.objects.filter(name=VERIFY_NAME).first()
    _upsert(VERIFY_NAME, func="backups.tasks.verify_archives", schedule_type=Schedule.DAILY, repeats=-1,
            next_run=existing.next_run if existing and existing.next_run else timezone.now() + timedelta(hours=1))


def sync_all() -> None:
    """Make the schedules match the accounts (used after migrations and by maintenance)."""
    ensure_global_schedules()
    ensure_verify_schedule()
    connected = Account.objects.filter(status=Account.Status.CONNECTED)
    for account in connected:
        ensure_account_schedules(account)
    wanted = {n for a in connected for n in (backup_schedule_name(a), refresh_schedule_name(a))}
    Schedule.objects.filter(name__regex=r"^(backup|refresh):account-").exclude(name__in=wanted).delete()


