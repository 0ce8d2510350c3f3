"""What happens after a run: drop detection, notifications and retention (never a rewrite of the run's record).

Retention per account keeps the newest ``keep_last`` successful backups, the
newest one of each of the last ``keep_monthly`` months, every pinned one and
always the newest successful one. A record and its file go together: deleting
a record deletes its file (unless another record shares it), and a record whose
file has vanished is deleted too.
"""

from __future__ import annotations

import logging
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backups import storage
from backups.models import Account, Backup
from backups.services import browse_index, notify

log = logging.getLogger(__name__)

FAILED_KEPT = 20  # failed runs kept per account, for their error messages


def after_backup(backup: Backup) -> None:
    if backup.status == Backup.Status.FAILED:
        account = Account.objects.get(pk=backup.account_id)
        if account.status == Account.Status.CONNECTED:  # a lost grant was notified as such already
            notify.backup_failed(backup)
        prune(account)
        return
    previous = (
        Backup.objects.filter(account_id=backup.account_id, status=Backup.Status.SUCCESS, created__lt=backup.created)
        .exclude(pk=backup.pk).order_by("-created").first()
    )
    if previous is not None:
        _check_drop(backup, previous)
    prune(backup.account)


def _check_drop(backup: Backup, previous: Backup) -> None:
    threshold = settings.DROP_ALERT_PERCENT / 100
    drops = []
    for name, before in (previous.item_counts or {}).items():
        after = (backup.item_counts or {}).get(name, 0)
        if isinstance(before, int) and before >= settings.DROP_ALERT_MIN_ITEMS and after < before * (1 - threshold):
            drops.append((name, before, after))
    if drops:
        previous.pin()
        log.warning("backup %s of %s: large drop %s", backup.pk, backup.account.username, drops)
        notify.data_dropped(backup, drops, previous)


def kept(account: Account) -> set[int]:
    successes = list(
        Backup.objects.filter(account=account, status=Backup.Status.SUCCESS).order_by("-created")
        .only("id", "created", "pinned")
    )
    keep = {b.pk for b in successes[: max(account.keep_last, 1)]}
    keep |= {b.pk for b in successes if b.pinned}
    now = timezone.localtime()
    months = set()
    for offset in range(account.keep_monthly):
        year, month = divmod(now.year * 12 + now.month - 1 - offset, 12)
        months.add((year, month + 1))
    seen: set[tuple[int, int]] = set()
    for b in successes:
        created = timezone.localtime(b.created)
        key = (created.year, created.month)
        if key in months and key not in seen:
            seen.add(key)
            keep.add(b.pk)
    failed = Backup.objects.filter(account=account, status=Backup.Status.FAILED).order_by("-created")
    keep |= set(failed.values_list("id", flat=True)[:FAILED_KEPT])
    return keep


def delete_backup(backup: Backup) -> None:
    """Delete a record and its file, unless another record shares that file."""
    name, key, sha256 = backup.archive_name, backup.archive_key, backup.sha256
    with transaction.atomic():
        backup.delete()
        shared = bool(name) and Backup.objects.filter(account_id=backup.account_id, archive_name=name).exists()
    if key and not shared:
        storage.delete(key)
    browse_index.forget(sha256)  # the browse pages' index, when no backup holds that file any more


def prune(account: Account) -> int:
    keep = kept(account)
    removed = 0
    finished = Backup.objects.filter(account=account, status__in=[Backup.Status.SUCCESS, Backup.Status.FAILED])
    for backup in finished.exclude(pk__in=keep).select_related("account"):
        delete_backup(backup)
        removed += 1
    # Records whose file is gone: nothing to download, nothing to keep. If every file of the account is
    # gone, the storage is more likely unmounted than emptied: keep the records and say so.
    successes = list(Backup.objects.filter(account=account, status=Backup.Status.SUCCESS).select_related("account"))
    missing = [b for b in successes if b.archive_name and not storage.exists(b.archive_key)]
    if missing and len(missing) == len(successes):
        log.warning("none of the %d archives of %s is in the archive storage; is it mounted? Keeping the records.",
                    len(missing), account.username)
        return removed
    for backup in missing:
        log.warning("archive %s of %s is missing; removing its record", backup.archive_name, account.username)
        delete_backup(backup)
        removed += 1
    return removed


def prune_all() -> int:
    return sum(prune(account) for account in Account.objects.all())
