import sys

from django.core.management.base import BaseCommand, CommandError

from backups.management.commands._base import find_account, user_errors
from backups.models import Backup
from backups import storage
from backups.services.backup_run import run_backup


class Command(BaseCommand):
    help = "Back up a connected trakt account now; prints the archive's absolute path as the last line."

    def add_arguments(self, parser):
        parser.add_argument("-u", "--user", dest="username", required=True, help="trakt username")
        parser.add_argument("--full", action="store_true", help="fetch every category even if unchanged")

    @user_errors
    def handle(self, *args, username, full=False, **options):
        account = find_account(username)
        show = sys.stderr.isatty() and options.get("verbosity", 1) >= 1

        def progress(state):
            if show:
                sys.stderr.write(
                    f"\r{state.categories_done}/{state.categories_total} categories, "
                    f"{state.pages_fetched} pages  {state.current[:40]:<40}"
                )
                sys.stderr.flush()

        backup = run_backup(account, Backup.Trigger.COMMAND, progress=progress, full=full)
        if show:
            sys.stderr.write("\n")
        if backup.status != Backup.Status.SUCCESS:
            raise CommandError(backup.error or "The backup failed; see the log for details.")
        self.stdout.write(
            f"Backed up {account.username}: {backup.total_items} items in {backup.requests_made} requests, "
            f"{backup.duration.total_seconds():.1f} s."
        )
        self.stdout.write(storage.describe(backup.archive_key))
