"""Re-checking archives: every successful backup against its recorded sha256 and its manifest.

A damaged or missing archive is recorded (``verify_ok=False``) and never served as good.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.utils import timezone

from backups import archive, storage
from backups.models import Account, Backup

log = logging.getLogger(__name__)


@dataclass
class Finding:
    backup: Backup
    problems: list[str]
    newly_damaged: bool = False  # it passed (or was never checked) before this check


def verify_backup(backup: Backup) -> list[str]:
    key = backup.archive_key
    if not key or not storage.exists(key):
        problems = ["the archive file is missing"]
    else:
        with storage.open_archive(key) as handle:
            problems = archive.verify_archive(handle, backup.sha256 or None)
    Backup.objects.filter(pk=backup.pk).update(verify_ok=not problems, verified_at=timezone.now())
    backup.verify_ok, backup.verified_at = not problems, timezone.now()
    if problems:
        log.warning("archive %s of %s: %s", backup.archive_name, backup.account.username, "; ".join(problems))
    return problems


def verify_all(account: Account | None = None) -> list[Finding]:
    backups = Backup.objects.filter(status=Backup.Status.SUCCESS).select_related("account").order_by("created")
    if account is not None:
        backups = backups.filter(account=account)
    findings = []
    for backup in backups:
        before = backup.verify_ok
        problems = verify_backup(backup)
        findings.append(Finding(backup, problems, newly_damaged=bool(problems) and before is not False))
    return findings
