from django.core.management.base import BaseCommand, CommandError

from backups.management.commands._base import find_account, user_errors
from backups.services.integrity import verify_all


class Command(BaseCommand):
    help = "Re-check every archive against its recorded sha256 and its manifest; exits 1 if any is damaged or missing."

    def add_arguments(self, parser):
        parser.add_argument("-u", "--user", dest="username", help="only this trakt account")

    @user_errors
    def handle(self, *args, username=None, **options):
        account = find_account(username) if username else None
        findings = verify_all(account)
        bad = [f for f in findings if f.problems]
        for finding in findings:
            b = finding.backup
            state = "ok" if not finding.problems else "DAMAGED: " + "; ".join(finding.problems)
            self.stdout.write(f"{b.account.username} {b.archive_name}: {state}")
        self.stdout.write(f"{len(findings)} archives checked, {len(bad)} damaged or missing.")
        if bad:
            raise CommandError(f"{len(bad)} of {len(findings)} archives are damaged or missing (listed above).")
