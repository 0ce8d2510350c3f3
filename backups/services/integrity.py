"""Re-checking archives: every successful backup against its recorded sha256 and its manifest.

A damaged or missing archive is recorded (``verify_ok=False``) and never served as good.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from backups import archive, storage
from backups.models import Account, Backup

log = logging.getLogger(__name__)


@dataclass
class Finding:
    backup: Backup
    problems: list[str]
    newly_damaged: bool = False  # it passed (or was never checked) before this check


def checksum_matches(backup: Backup) -> bool:
    """The stored file still has the checksum recorded when it was made (a quick check: the whole file only).

    A mismatch is recorded (the archive is damaged); a match changes nothing, since the members were not read.
    """
    key = backup.archive_key
    if not key or not storage.exists(key):
        return False
    with storage.open_archive(key) as handle:
        if archive.sha256_stream(handle) == backup.sha256:
            return True
    backup.record_verification(False)
    return False


def verify_backup(backup: Backup) -> list[str]:
    key = backup.archive_key
    if not key or not storage.exists(key):
        problems = ["the archive file is missing"]
    else:
        with storage.open_archive(key) as handle:
            problems = archive.verify_archive(handle, backup.sha256 or None)
    backup.record_verification(not problems)
    if problems:
        log.warning("archive %s of %s: %s", backup.archive_name, backup.account.username, "; ".join(problems))
    return problems


def verify_all(account: Account | None = None) -> list[Finding]:
    backups = Backup.objects.successful().select_related("account").order_by("created")
    if account is not None:
        backups = backups.filter(account=account)
    findings = []
    for backup in backups:
        before = backup.verify_ok
        problems = verify_backup(backup)
        findings.append(Finding(backup, problems, newly_damaged=bool(problems) and before is not False))
    return findings
