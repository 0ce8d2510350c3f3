"""`trakt_export -u USER --format csv|letterboxd|trakt-import -o PATH`: an archive into another tool's format."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backups.exports import FORMATS
from backups.management.commands._base import find_account, user_errors
from backups.models import Backup
from backups.services.export_run import export_backup, export_file, newest_backup


class Command(BaseCommand):
    help = ("Export an archive of the trakt user USER (default: the newest backup) as a ZIP another tool reads: "
            + "; ".join(f"{f.name}: {f.help}" for f in FORMATS.values())
            + ". Prints the file's path as the last line.")

    def add_arguments(self, parser):
        parser.add_argument("-u", "--user", dest="username", required=True, help="trakt username")
        parser.add_argument("--format", required=True, choices=tuple(FORMATS), help="what to export to")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--archive", type=Path, help="an archive file of this project (default: the newest "
                                                         "backup of USER)")
        source.add_argument("--backup", type=int, help="the id of a backup of USER (the admin shows it)")
        parser.add_argument("-o", "--output", type=Path, required=True,
                            help="the ZIP to write, or a folder to write it in under its own name")

    @user_errors
    def handle(self, *args, username, format, archive=None, backup=None, output: Path, **options):
        if archive is not None:
            if not archive.is_file():
                raise CommandError(f"There is no archive file at {archive}.")
            export = export_file(archive, format, username)
        else:
            account = find_account(username)
            chosen = Backup.objects.filter(pk=backup, account=account).first() if backup else newest_backup(account)
            if chosen is None:
                raise CommandError(f"{account.username} has no backup with the id {backup}.")
            export = export_backup(chosen, format)
        target = output / export.filename if output.is_dir() else output
        if not target.parent.is_dir():
            export.close()
            raise CommandError(f"There is no folder {target.parent} to write the export in.")
        export.write_to(target)
        for note in export.notes:
            self.stdout.write(note)
        self.stdout.write(str(target.resolve()))
