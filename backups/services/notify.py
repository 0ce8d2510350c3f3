"""Notifications: email through Django's mail settings and any Apprise URL from settings.

Sent when a backup fails, when an account must be connected again, and when a
backup shows a large drop in an account's data. Never carries a token.
An account is named as ``str(account)``: its username with hidden characters visible ("⟨U+202E⟩ecila"), so a
name with a right-to-left override never reads as another account's.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from backups.site_url import absolute_url

log = logging.getLogger(__name__)


def _recipients(account) -> list[str]:
    emails = list(settings.NOTIFY_EMAILS)
    owner_email = getattr(account.owner, "email", "")
    if owner_email and owner_email not in emails:
        emails.append(owner_email)
    return emails


def send(account, subject: str, body: str) -> None:
    """Deliver one notification everywhere it is configured; a failing channel is logged, never raised."""
    subject = f"[trakt-backup] {subject}"
    emails = _recipients(account) if settings.EMAIL_ENABLED else []
    if emails:
        try:
            send_mail(subject, body, None, emails)
        except Exception:  # noqa: BLE001 - a mail server being down must not fail the backup
            log.exception("could not send the notification email")
    if settings.APPRISE_URLS:
        import apprise

        notifier = apprise.Apprise()
        for url in settings.APPRISE_URLS:
            notifier.add(url)
        try:
            if not notifier.notify(title=subject, body=body):
                log.warning("an Apprise notification could not be delivered")
        except Exception:  # noqa: BLE001
            log.exception("Apprise notification failed")


def _link(path: str) -> str:
    return absolute_url(path)  # "" without SITE_URL: a notification has no request to take an address from


def backup_failed(backup) -> None:
    account = backup.account
    send(account, f"Backup of {account} failed",
         f"The backup of the trakt account {account} started {backup.created:%Y-%m-%d %H:%M} UTC failed:\n\n"
         f"{backup.error}\n\nNo archive was kept from this run; earlier archives are untouched.\n{_link('/')}")


def account_needs_reconnect(account) -> None:
    send(account, f"{account} must be connected again",
         f"trakt no longer accepts the saved connection of the account {account}, so its backups "
         f"have stopped. Connect it again from the dashboard (Reconnect) or with\n\n"
         f"  python manage.py trakt_auth -u {account} --device\n{_link('/')}")


def data_dropped(backup, drops: list[tuple[str, int, int]], previous) -> None:
    account = backup.account
    lines = "\n".join(f"  {name}: {before} → {after} items" for name, before, after in drops)
    plan = _link(f"/backups/{previous.pk}/restore/") or \
        f"on the dashboard: the backup of {previous.created:%Y-%m-%d %H:%M} UTC, Restore…"
    changes = _link(f"/backups/{backup.pk}/compare/?with={previous.pk}") or \
        f"on the dashboard: the backup of {backup.created:%Y-%m-%d %H:%M} UTC, Browse, Compare"
    send(account, f"Large drop in {account}'s trakt data",
         f"The backup of {account} taken {backup.created:%Y-%m-%d %H:%M} UTC holds much less than the "
         f"one before:\n\n{lines}\n\nWhat went, item by item: {changes}\n\nIf you did not remove this yourself, a sync may have wiped data at trakt. "
         f"The earlier archive ({previous.archive_name}) is pinned: retention will not delete it.\n\n"
         f"To put back what is missing, open its restore plan ({plan}), or run\n\n"
         f"  python manage.py trakt_restore -u {account} --backup {previous.pk} --dry-run\n")


def archive_damaged(backup, problems: list[str]) -> None:
    account = backup.account
    send(account, f"An archive of {account} is damaged",
         f"The archive {backup.archive_name} of {account} failed its daily integrity check:\n\n"
         + "\n".join(f"  - {p}" for p in problems)
         + "\n\nIt is no longer offered for download. Take a new backup and check the disk of the data folder."
         f"\n{_link('/')}")
