"""Entry points for django-q2 workers. Thin: each one calls a service."""

from __future__ import annotations

import logging

from backups.models import Account, Backup, Restore
from backups.services import browse_index, doctor, integrity, notify, retention, schedules
from backups.services.backup_run import BackupAlreadyRunning, execute_backup, recover_stale_backups, run_backup
from backups.services.grants import ReconnectNeeded, ServiceError, refresh_grant
from backups.services.restore_run import execute_restore

log = logging.getLogger(__name__)


def run_queued_backup(backup_id: int) -> str:
    backup = Backup.objects.select_related("account").filter(pk=backup_id).first()
    if backup is None:
        return "gone"
    return execute_backup(backup).status


def run_queued_restore(restore_id: int) -> str:
    restore = Restore.objects.select_related("account", "archive_backup").filter(pk=restore_id).first()
    if restore is None:
        return "gone"
    return execute_restore(restore)[0].status


def scheduled_backup(account_id: int) -> str:
    account = Account.objects.filter(pk=account_id).first()
    if account is None or not account.is_connected:
        return "skipped: not connected"
    try:
        return run_backup(account, Backup.Trigger.SCHEDULE).status
    except BackupAlreadyRunning:
        return "skipped: a backup is already running"
    except ReconnectNeeded:
        return "skipped: must be connected again"


def refresh_check(account_id: int) -> str:
    account = Account.objects.filter(pk=account_id).first()
    if account is None or not account.is_connected:
        return "skipped: not connected"
    try:
        return "refreshed" if refresh_grant(account) else "still valid"  # within refresh_margin(account)
    except ReconnectNeeded:
        return "must be connected again"
    except ServiceError as exc:
        log.warning("refresh check of %s failed: %s", account.username, exc)
        return "failed"


def maintenance() -> str:
    recovered = recover_stale_backups()
    pruned = retention.prune_all()
    schedules.sync_all()
    return f"recovered {recovered}, pruned {pruned}"


def verify_archives() -> str:
    findings = integrity.verify_all()
    bad = [f for f in findings if f.problems]
    for finding in [f for f in bad if f.newly_damaged]:  # once per archive, not every day
        notify.archive_damaged(finding.backup, finding.problems)
    return f"{len(findings)} checked, {len(bad)} damaged or missing"


def worker_heartbeat() -> str:
    return doctor.record_heartbeat()


def build_browse_index(backup_id: int) -> str:
    """The browse pages' index of a large archive (``services/browse_index``)."""
    backup = Backup.objects.filter(pk=backup_id, status=Backup.Status.SUCCESS).first()
    if backup is None:
        return "gone"
    browse_index.build_queued(backup)
    return "built"
