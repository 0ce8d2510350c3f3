"""Importing trakt's own data export into an ordinary archive of this project (one service: the command and the
dashboard's upload call it).

The archive has the same files as an API backup (``export_catalog.py`` maps each kind of the export's files), its
manifest says ``"source": "trakt-export"`` with the export's file for each archive file, and it is recorded as a
backup ("Imported"): listed, verified, kept by retention, deduplicated, downloadable and restorable like any
other. For a trakt user with no connected account, an account "imported only" is created (no token, no
schedules). An export that holds fewer plays than its own statistics say is recorded as partial, with a sentence.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone

from backups import archive
from backups.export_catalog import BY_KIND, LIST_ITEMS_KIND
from backups.models import Account, Backup
from backups.services import retention
from backups.services.backup_run import BackupAlreadyRunning, account_archive_dir, free_moment, publish_archive
from backups.services.export_reader import BadExport, Export, ExportFile, items, open_export, whole
from backups.services.run_claims import holding_run_lock, this_host

log = logging.getLogger(__name__)

EXTRA = "extra"  # the archive folder of the export's files no row of the table knows


@dataclass
class Imported:
    """What an import wrote: item counts, the export's files of each archive file, and its problems."""

    counts: dict[str, int] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)
    lists: dict[str, dict] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# -- the account -----------------------------------------------------------------------------------------


def _exporter(export: Export) -> dict:
    """The trakt user the export is of, from its user-settings."""
    file = next((f for f in export.files if f.kind == "user-settings"), None)
    if file is None:
        raise BadExport("The export has no user-settings file, so it cannot say whose data it is: export again "
                        "from trakt. Nothing was stored.")
    user = whole(export, file).get("user")
    if not isinstance(user, dict) or not isinstance(user.get("username"), str):
        raise BadExport("The export's user-settings names no trakt user: export again from trakt. Nothing was stored.")
    return user


def account_for(username: str, owner, user: dict) -> Account:
    """The account the export goes to: the connected (or earlier imported) one of that trakt user, or a new one
    "imported only". Refused when the export is another user's, or the account someone else's."""
    if user["username"].casefold() != username.strip().casefold():
        raise BadExport(f"This export is of the trakt user {user['username']}, not {username}: import it for "
                        f"{user['username']}, or export {username}'s data. Nothing was stored.")
    account = Account.objects.filter(username__iexact=user["username"]).first()
    if account is not None:
        if account.owner_id != owner.pk and not owner.is_staff:
            raise BadExport(f"The trakt account {account.username} belongs to another user of this installation. "
                            "Nothing was stored.")
        return account
    ids = user.get("ids") if isinstance(user.get("ids"), dict) else {}
    return Account.objects.create(owner=owner, username=user["username"][:200], slug=str(ids.get("slug") or "")[:200],
                                  status=Account.Status.IMPORTED, status_detail="Imported from trakt's export; "
                                  "connect it to back it up from trakt's API.")


# -- the files -------------------------------------------------------------------------------------------


def _archive_file(file: ExportFile) -> str:
    row = BY_KIND[file.kind]
    return row.file.format(list_id=file.list_id) if file.kind == LIST_ITEMS_KIND else row.file


def _write_files(export: Export, writer: archive.ArchiveWriter) -> Imported:
    """Every known file of the export into its archive file (several kinds of one file joined in the table's
    order), page by page; the others under extra/, as they are."""
    done = Imported()
    by_archive: dict[str, list[ExportFile]] = {}
    order = list(BY_KIND)
    for file in sorted(export.files, key=lambda f: (order.index(f.kind), f.list_id)):
        by_archive.setdefault(_archive_file(file), []).append(file)
    for target, files in by_archive.items():
        done.sources[target] = [member for f in files for member in f.members]
        if BY_KIND[files[0].kind].sections:
            _write_sections(export, files[0], writer, done)
            continue
        if BY_KIND[files[0].kind].shape is dict:
            done.counts[target] = writer.write_value(target, whole(export, files[0]), endpoint="trakt-export",
                                                     params={"file": files[0].members[0]})
            continue
        array = writer.open_array(target)
        pages = 0
        for file in files:
            for page in items(export, file):
                array.extend(page)
                pages += 1
        writer.record(target, endpoint="trakt-export", params={"files": done.sources[target]}, items=array.count,
                      sha256=array.close(), pages=pages)
        done.counts[target] = array.count
    for member in export.unknown:
        done.sources[writer.keep(EXTRA, member, export.inflate(member), source="trakt-export")] = [member]
    return done


def _write_sections(export: Export, file: ExportFile, writer: archive.ArchiveWriter, done: Imported) -> None:
    """A kind whose items go to one file per section (saved filters), each in the export's order. Items of a
    section the table does not know keep the export's files under extra/ as well, so nothing is dropped."""
    row = BY_KIND[file.kind]
    members = done.sources.pop(row.file)
    by_section: dict[str, list] = {section: [] for section in row.sections}
    unknown = 0
    for page in items(export, file):
        for item in page:
            section = item.get("section") if isinstance(item, dict) else None
            if section in by_section:
                by_section[section].append(item)
            else:
                unknown += 1
    for section, section_items in by_section.items():
        target = row.file.format(section=section)
        done.counts[target] = writer.write_value(target, section_items, endpoint="trakt-export",
                                                 params={"files": members})
        done.sources[target] = members
    if unknown:
        log.info("%s: %d items of sections this app does not know, kept under %s/", file.kind, unknown, EXTRA)
        for member in members:
            done.sources[writer.keep(EXTRA, member, export.inflate(member), source="trakt-export")] = [member]


def _stat(stats: dict, group: str, key: str) -> int:
    value = stats.get(group).get(key) if isinstance(stats.get(group), dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


# What an export's user-stats count, and the archive files that hold it: (words, the stats' totals, files).
STATS_CHECKS = (
    ("plays", (("movies", "plays"), ("episodes", "plays")), ("sync/history",)),
    ("ratings", (("ratings", "total"),), tuple(f"sync/ratings/{kind}" for kind in ("movies", "shows", "seasons",
                                                                                   "episodes"))),
)


def _completeness(export: Export, done: Imported) -> list[str]:
    """Sentences for what makes the export partial: its own _errors.json, and fewer plays or ratings than its
    stats say. (Fewer than the account's previous archive held is the data-loss alarm's, as for any backup.)"""
    problems = []
    if export.errors:
        endpoints = [str(e.get("endpoint", "?"))[:100] for e in export.errors if isinstance(e, dict)][:10]
        problems.append("trakt's exporter reported errors (_errors.json) for " + (", ".join(endpoints) or "some files")
                        + "; export again later for a complete copy.")
    stats = next((whole(export, f) for f in export.files if f.kind == "user-stats"), None)
    for words, totals, files in STATS_CHECKS if isinstance(stats, dict) else ():
        expected = sum(_stat(stats, group, key) for group, key in totals)
        held = sum(done.counts.get(file, 0) for file in files)
        if expected and held < expected:
            problems.append(f"This export holds {held:,} of {expected:,} {words}; trakt's export was cut short — "
                            "export again later.")
    return problems


# -- the run ---------------------------------------------------------------------------------------------


def _start(account: Account) -> Backup:
    try:
        with transaction.atomic():
            return Backup.objects.create(account=account, trigger=Backup.Trigger.IMPORT, status=Backup.Status.QUEUED,
                                         full=True, claim_host=this_host(), claim_pid=os.getpid())
    except IntegrityError:
        raise BackupAlreadyRunning(f"A backup of {account.username} is under way; import when it has finished.") \
            from None


def import_export(path: Path, username: str, owner) -> Backup:
    """Import the export at ``path`` for the trakt user ``username`` (owned by ``owner``): its new backup, recorded
    and published; or BadExport with a sentence, having stored nothing (no archive, no record, no account)."""
    export = open_export(path)
    created = None
    try:
        user = _exporter(export)
        existed = Account.objects.filter(username__iexact=user["username"]).exists()
        account = account_for(username, owner, user)
        created = None if existed else account
        backup = _start(account)
        backup.claim(this_host(), os.getpid())
        with holding_run_lock(backup.pk):
            _run(backup, export)
    except BadExport:
        if created is not None:
            created.delete()  # with the failed import's record
        raise
    finally:
        export.close()
    backup.refresh_from_db()
    retention.after_backup(backup)
    return backup


def _run(backup: Backup, export: Export) -> None:
    account = backup.account
    moment = free_moment(account, backup.started or timezone.now())
    writer = archive.ArchiveWriter(account_archive_dir(account), archive.archive_name(account.archive_folder, moment),
                                   moment)
    try:
        done = _write_files(export, writer)
        problems = _completeness(export, done)
        extra = {"source": "trakt-export", "export_files": done.sources, "partial": bool(problems),
                 "problems": problems, "errors": export.errors if isinstance(export.errors, list) else None}
        fields = dict(item_counts={k: v for k, v in done.counts.items() if not k.startswith(f"{EXTRA}/")},
                      full=True, folder=account.archive_folder, content_sha256=writer.content_digest(),
                      problems=" ".join(problems))
        publish_archive(backup, writer, requests=0, fields=fields, extra=extra)
    except BadExport:
        writer.abort()
        backup.delete()  # a refused upload stores nothing
        raise
    except BaseException as exc:
        writer.abort()
        backup.mark_failed(Backup.ErrorKind.UNEXPECTED, f"The import failed unexpectedly ({type(exc).__name__}); "
                                                        "see the log for details.")
        log.exception("import %s for %s failed", backup.pk, account.username)
        raise
