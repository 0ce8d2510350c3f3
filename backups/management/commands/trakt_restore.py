"""`trakt_restore -u USER`: put an archive back into its trakt account (only what is missing), after a plan."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backups import storage
from backups.management.commands._base import find_account, user_errors
from backups.models import Backup, Restore
from backups.services.restore_run import RestorePlan, execute_restore, start_restore

COLUMNS = ("in archive", "on trakt", "missing", "different")
RESULT_COLUMNS = ("added", "existing", "not found", "refused")
JSON_KEYS = ("archive", "current", "missing", "different", "added", "not_found", "refused")


def plan_table(plan: RestorePlan) -> list[str]:
    width = max([len(c.label) for c in plan.categories] + [20])
    lines = [f"{'category':<{width}}  " + "  ".join(f"{c:>10}" for c in COLUMNS)]
    for c in plan.categories:
        lines.append(f"{c.label:<{width}}  " + "  ".join(f"{n:>10}" for n in (c.archive, c.current, c.to_write,
                                                                               c.different)))
    if plan.not_restorable:
        lines.append("Not restorable: " + "; ".join(f"{file} ({reason})" for file, reason in plan.not_restorable))
    return lines


def result_table(restore: Restore) -> list[str]:
    results = restore.categories.values()
    width = max([len(r["label"]) for r in results] + [20])
    lines = [f"{'category':<{width}}  " + "  ".join(f"{c:>10}" for c in RESULT_COLUMNS)]
    for r in results:
        lines.append(f"{r['label']:<{width}}  " + "  ".join(
            f"{r[k]:>10}" for k in ("added", "existing", "not_found", "refused")))
    for r in results:
        if r["problem"]:
            lines.append(f"{r['label']}: {r['problem']}")
        if r["not_found_titles"]:
            lines.append(f"{r['label']}: trakt does not know {', '.join(r['not_found_titles'])}")
    return lines


class Command(BaseCommand):
    help = ("Restore a backup into its trakt account: first a backup of the account as it is now (pinned), then "
            "a plan of what is missing, then only that is written (nothing is ever removed from trakt).")

    def add_arguments(self, parser):
        parser.add_argument("-u", "--user", dest="username", required=True, help="trakt username")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--archive", type=Path, help="an archive file (default: the newest backup before this "
                                                         "restore's own)")
        source.add_argument("--backup", type=int, help="the id of a backup of the account (the admin shows it)")
        parser.add_argument("--only", default="", help="categories to restore, comma separated (archive files "
                                                       "without .json: sync/history,sync/ratings/movies,users/lists)")
        parser.add_argument("--dry-run", action="store_true", help="print the plan and write nothing")
        parser.add_argument("--yes", action="store_true", help="write without asking")
        parser.add_argument("--format", choices=("text", "json"), default="text")

    @user_errors
    def handle(self, *args, username, archive=None, backup=None, only="", dry_run=False, yes=False, format="text",
               **options):
        account = find_account(username)
        if not (dry_run or yes or sys.stdin.isatty()):
            raise CommandError("Give --yes to restore without a terminal to confirm in (or --dry-run for the plan).",
                               returncode=2)
        if archive is not None and not archive.is_file():
            raise CommandError(f"There is no archive file at {archive}.")
        chosen = Backup.objects.filter(pk=backup, account=account).first() if backup else None
        if backup and chosen is None:
            raise CommandError(f"{account.username} has no backup with the id {backup}.")
        restore = start_restore(account, backup=chosen, archive_path=archive,
                                only=[part.strip().removesuffix(".json") for part in only.split(",") if part.strip()])
        restore, plan = execute_restore(restore, dry_run=dry_run, archive_path=archive,
                                        confirm=None if yes else self._confirm(format))
        self._report(restore, plan, archive, format)

    def _confirm(self, format: str):
        def confirm(plan: RestorePlan) -> bool:
            out = self.stdout if format == "text" else self.stderr
            out.write("\n".join(plan_table(plan)))
            out.write(f"Write {plan.writes_needed} missing items to trakt? [y/N] ", ending="")
            out.flush()
            return sys.stdin.readline().strip().lower() in ("y", "yes")
        return confirm

    def _report(self, restore: Restore, plan: RestorePlan | None, archive: Path | None, format: str) -> None:
        if plan is not None and format == "text" and restore.status == Restore.Status.PLANNED:
            self.stdout.write("\n".join(plan_table(plan)))
        elif format == "text" and restore.categories and restore.status != Restore.Status.DECLINED:
            self.stdout.write("\n".join(result_table(restore)))
        if format == "json":
            where = str(archive) if archive else (storage.describe(restore.archive_backup.archive_key)
                                                 if restore.archive_backup else restore.archive_name)
            self.stdout.write(json.dumps({
                "archive": where,
                "categories": {file: {key: r.get(key, 0) for key in JSON_KEYS} for file, r in
                               restore.categories.items()},
                "not_restorable": [file for file, _ in plan.not_restorable] if plan else [],
            }))
        if restore.status == Restore.Status.FAILED:
            raise CommandError(restore.error or "The restore failed; see the log for details.")
        if restore.status == Restore.Status.DECLINED:
            raise CommandError("Nothing was written.")
        if restore.status == Restore.Status.PARTIAL:
            raise CommandError("Some of it could not be restored: see the sentences above.")
        if restore.status == Restore.Status.SUCCESS and format == "text":
            self.stdout.write(f"Restored into {restore.account.username}: {restore.writes_made} writes.")
