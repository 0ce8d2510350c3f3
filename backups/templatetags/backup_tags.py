"""Small presentation helpers for backups and accounts."""

from __future__ import annotations

import re
from datetime import timedelta

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from backups.catalog import BY_FILE, CATEGORIES, OWN_LIST_ITEMS, Category, label_of
from backups.exports import FORMATS
from backups.models import Account, Backup
from backups.services.compare import KINDS
from backups.untrusted import isolated, visible

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


@register.filter
def untrusted(text, where: str = "") -> str:
    """A name or words from trakt (or typed by someone) on a page: hidden characters made visible ("⟨U+202E⟩"),
    so "\\u202eecila" never reads as "alice", and isolated in a ``<bdi>`` so that right-to-left text cannot
    reorder what is around it. ``untrusted:"text"`` where no markup can go (a ``<title>``): visible only."""
    if text is None or text == "":
        return ""
    return visible(text) if where == "text" else isolated(text)


@register.filter(needs_autoescape=True)
def inline_code(text, autoescape: bool = True) -> str:
    """A message written for the terminal and the page alike: its `command` spans shown as code, not backticks.

    The text is escaped first (it may carry trakt's words or a username), with its hidden characters made
    visible as in ``untrusted``; only the spans become markup."""
    escaped = visible(conditional_escape(text) if autoescape else str(text))
    return mark_safe(CODE_SPAN.sub(r"<code>\1</code>", escaped))  # noqa: S308 (escaped above)


@register.filter
def category_label(name: str) -> str:
    """A category's name for people, from the catalog ("Watch history"); a file the catalog no longer knows
    (an older archive's) reads as its path, "users / old thing"."""
    return LABELS.get(str(name)) or label_of(str(name))


def _in_catalog_order(pairs) -> list[tuple[str, object]]:
    return sorted(pairs, key=lambda pair: (ORDER.get(pair[0], len(ORDER)), pair[0]))


def _list_lines(lists: dict, category: Category) -> list[tuple[SafeString, int]]:
    """One line per list of a per-list category, by name: "Items of list ‘Favourites’", the name as trakt's
    words (``isolated``); entries without "of" were written before shared lists had their own items, and are
    your own lists."""
    named = [(str(entry.get("name") or f"#{list_id}"), entry.get("items"))
             for list_id, entry in lists.items() if isinstance(entry, dict) and isinstance(entry.get("items"), int)
             and entry.get("of", OWN_LIST_ITEMS.file) == category.file]
    return [(format_html(category.label_each, name=isolated(name)), items)
            for name, items in sorted(named, key=lambda line: line[0].casefold())]


@register.filter
def counted_items(backup: Backup) -> list[tuple[str, int]]:
    """(label, count) of each category in the catalog's order (files it no longer knows last), with one line per
    list where the backup knows its lists (before 0.2.0 their items were one line, "Items of the lists")."""
    lines = []
    for name, count in _in_catalog_order((k, v) for k, v in (backup.item_counts or {}).items() if isinstance(v, int)):
        category = BY_FILE.get(name)
        each = _list_lines(backup.lists or {}, category) if category is not None and category.per_list else []
        lines.extend(each or [(category_label(name), count)])
    return lines


@register.filter
def skipped_items(backup: Backup) -> list[tuple[str, str]]:
    """(label, reason) of each category trakt did not provide (VIP only, …), in the catalog's order."""
    return [(category_label(name), str(reason)) for name, reason in _in_catalog_order((backup.skipped or {}).items())]


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


@register.simple_tag
def export_formats():
    """The formats a backup's "Export" menu offers (``backups/exports``)."""
    return list(FORMATS.values())


@register.filter
def percent(done: int, total: int) -> int:
    try:
        return max(0, min(100, round(100 * int(done) / int(total))))
    except (TypeError, ValueError, ZeroDivisionError):
        return 0


@register.filter
def change_numbers(counts) -> list[tuple[str, int]]:
    """(kind, number) of a section's row in a comparison of two backups, in the table's column order."""
    return [(kind, getattr(counts, kind)) for kind in KINDS]
