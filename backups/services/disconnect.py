"""Disconnecting a trakt account, for the dashboard and the admin alike."""

from __future__ import annotations

import contextlib

from backups.models import Account
from backups.services import grants, retention, schedules
from backups.services.backup_run import account_archive_dir
from backups.services.grants import ServiceError


class BackupUnderWay(ServiceError):
    pass


def backup_under_way(account: Account) -> bool:
    return account.backups.active().exists()


def disconnect(account: Account, delete_archives: bool) -> None:
    """Revoke the account's grant at trakt, remove its schedules and, with ``delete_archives``, delete its
    archives and the account itself.

    Keeping the archives keeps the account too (disconnected, its archives listed and downloadable, ready to
    be connected again). Deleting an account in the admin is ``delete_archives=True``: revoked at trakt, every
    archive deleted from the storage, the row (and its backups and auth log) gone. Refused while a backup of
    the account is under way: it would go on writing an archive of an account that no longer exists.
    """
    if backup_under_way(account):
        raise BackupUnderWay(f"A backup of {account.username} is under way: wait for it to finish, "
                             "then disconnect the account.")
    grants.revoke_grant(account)
    schedules.remove_account_schedules(account)
    if delete_archives:
        _delete_account_and_archives(account)


def _delete_account_and_archives(account: Account) -> None:
    folder = account_archive_dir(account)
    for backup in account.backups.select_related("account"):
        retention.delete_backup(backup)
    account.delete()
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty
