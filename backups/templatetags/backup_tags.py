"""Small presentation helpers for backups and accounts."""

from __future__ import annotations

import re
from datetime import timedelta

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from backups.catalog import CATEGORIES
from backups.models import Account, Backup

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """A run time in words: "45 s", "3 min 12 s", "1 h 4 min"."""
    if value is None:
        return "–"
    seconds = max(0, int(round(value.total_seconds())))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


LABELS = {category.file: category.label for category in CATEGORIES}
ORDER = {file: number for number, file in enumerate(LABELS)}  # the catalog's order
CODE_SPAN = re.compile(r"`([^`\n]+)`")


@register.filter(needs_autoescape=True)
def inline_code(text, autoescape: bool = True) -> str:
    """A message written for the terminal and the page alike: its `command` spans shown as code, not backticks.

    The text is escaped first (it may carry trakt's words or a username); only the spans become markup."""
    escaped = conditional_escape(text) if autoescape else str(text)
    return mark_safe(CODE_SPAN.sub(r"<code>\1</code>", escaped))  # noqa: S308 (escaped above)


@register.filter
def category_label(name: str) -> str:
    """A category's name for people, from the catalog ("Watch history"); a file the catalog no longer knows
    (an older archive's) reads as its path, "users / old thing"."""
    return LABELS.get(str(name)) or " / ".join(part.replace("_", " ") for part in str(name).split("/"))


@register.filter
def sorted_counts(counts: dict | None) -> list[tuple[str, int]]:
    """The counts in the catalog's order (files it no longer knows last, by name)."""
    counted = [(k, v) for k, v in (counts or {}).items() if isinstance(v, int)]
    return sorted(counted, key=lambda kv: (ORDER.get(kv[0], len(ORDER)), kv[0]))


RETRY_ADVICE = "Press Back up now to try again. If it fails again, the worker's log has the details."
ADVICE = {  # what to do about a failed backup, by the kind of its failure (set where the error was made)
    Backup.ErrorKind.RECONNECT: "Connect the account again (Reconnect), then press Back up now.",
    Backup.ErrorKind.LOCKED: "Sign in at trakt.tv to unlock the account, then press Back up now.",
    Backup.ErrorKind.UNAVAILABLE: "trakt could not be reached or was busy. Press Back up now in a while; "
                                  "the schedule also retries.",
    Backup.ErrorKind.STORAGE: "Free some space in the data folder, then press Back up now.",
    Backup.ErrorKind.NOT_CONFIGURED: "Set up the trakt API app (App setup), then press Back up now.",
    Backup.ErrorKind.QUEUE: "Check that the worker is running (and Redis, if you use it), then press Back up now.",
}


@register.simple_tag
def failure_advice(backup: Backup, account: Account) -> str:
    """What to do about a failed backup, after the error itself."""
    if account.status != Account.Status.CONNECTED:
        return ADVICE[Backup.ErrorKind.RECONNECT]
    return ADVICE.get(backup.error_kind, RETRY_ADVICE)


@register.filter
def percent(done: int, total: int) -> int:
    try:
        return max(0, min(100, round(100 * int(done) / int(total))))
    except (TypeError, ValueError, ZeroDivisionError):
        return 0
