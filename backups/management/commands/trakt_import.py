"""`trakt_import ZIP -u USER`: trakt's own data export into an archive of this project; prints its path last."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from backups import storage
from backups.management.commands._base import user_errors
from backups.services.import_run import import_export


def _owner(name: str | None):
    users = get_user_model().objects
    if name:
        owner = users.filter(username=name).first()
        if owner is None:
            raise CommandError(f"There is no user called {name!r} on this installation.")
        return owner
    admins = list(users.filter(is_superuser=True, is_active=True)[:2])
    if len(admins) != 1:
        raise CommandError("Give --owner NAME: the user of this installation who owns the imported account.")
    return admins[0]


class Command(BaseCommand):
    help = ("Import trakt's own data export (the trakt-export-….zip of trakt's settings page) as an archive of the "
            "trakt user USER; prints the archive's path as the last line.")

    def add_arguments(self, parser):
        parser.add_argument("zip", type=Path, help="the export's ZIP file")
        parser.add_argument("-u", "--user", dest="username", required=True, help="the trakt username it is of")
        parser.add_argument("--owner", help="the user of this installation who owns a newly imported account "
                                            "(default: the only admin)")

    @user_errors
    def handle(self, *args, zip: Path, username: str, owner=None, **options):
        if not zip.is_file():
            raise CommandError(f"There is no file at {zip}.")
        backup = import_export(zip, username, _owner(owner))
        total = sum(v for v in backup.item_counts.values() if isinstance(v, int))
        self.stdout.write(f"Imported {backup.account.username}'s export: {total} items.")
        if backup.problems:
            self.stderr.write(f"This archive is partial: {backup.problems}")
        self.stdout.write(storage.describe(backup.archive_key))
