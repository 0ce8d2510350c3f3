from django.core.management.base import BaseCommand, CommandError

from backups.management.commands._base import user_errors
from backups.services.doctor import FAIL, MIN_FREE_BYTES, WARN, exit_code, run_checks, summary

MB = 1 << 20


class Command(BaseCommand):
    help = ("Check what usually breaks (data folder, database, worker, the trakt app and accounts, the clock, "
            "trakt's API) and say it in sentences; exit 0 when all is clear, 1 when a check failed, 2 when checks "
            "only warn.")

    def add_arguments(self, parser):
        parser.add_argument("--min-free-mb", type=int, default=MIN_FREE_BYTES // MB, metavar="MB",
                            help="warn when a folder's disk has less free space than this (default: %(default)s)")

    @user_errors
    def handle(self, *args, min_free_mb: int, **options):
        results = run_checks(min_free=max(min_free_mb, 0) * MB)
        labels = {FAIL: self.style.ERROR("FAIL"), WARN: self.style.WARNING("warn")}
        for result in results:
            self.stdout.write(f"{labels.get(result.status, self.style.SUCCESS('ok  '))}  {result.title}: "
                              f"{result.sentence}")
        line, code = summary(results), exit_code(results)
        if code:
            raise CommandError(line, returncode=code)
        self.stdout.write(line)
