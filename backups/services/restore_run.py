"""A restore, from every door (the command today; the dashboard and its task call the same functions).

1. A **safety backup** of the account as it is now (incremental, so cheap): a normal backup, labelled "before
   restore" and pinned, from which a restore can itself be undone by hand.
2. **The plan**: the chosen archive against that backup, per category (``restore_plan``).
3. **Apply** (unless it is a dry run, or the caller declines the plan): only what is missing (``restore_apply``).

A restore killed or failed halfway is resumed by running it again: it plans anew against the account's state,
so nothing is posted twice. A restore whose process is gone is recognised at once, as a backup's is.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from backups import archive
from backups.catalog import CATEGORIES, category_of
from backups.models import Account, Backup, Restore
from backups.restore_catalog import (BY_FILE, NOT_RESTORABLE, NOT_RESTORABLE_OTHERWISE, RESTORABLE, Restorable,
                                     Way, list_items, the_lists)
from backups.services.backup_run import failure, open_backup, run_backup
from backups.services.grants import ServiceError, account_client
from backups.services.restore_apply import Outcome, Writer, limit_sentence
from backups.services.restore_plan import CategoryPlan, ListTarget, plan_category, plan_lists
from backups.services.run_claims import holding_run_lock, process_gone, this_host
from backups.trakt_client import AnswerLost, LimitReached, TraktClient, TraktError

log = logging.getLogger(__name__)

STOPPED = "The restore stopped before it ended (its process is gone); run it again to resume: nothing is posted twice."


class RestoreError(ServiceError):
    pass


@dataclass
class RestorePlan:
    archive_name: str
    categories: list[CategoryPlan] = field(default_factory=list)
    lists: list[ListTarget] = field(default_factory=list)
    not_restorable: list[tuple[str, str]] = field(default_factory=list)  # (archive file, reason)

    @property
    def writes_needed(self) -> int:
        return sum(category.to_write for category in self.categories)


# -- starting --------------------------------------------------------------------------------------


def recover_stale_restores(account: Account) -> None:
    """Restores whose process is gone (this host), or queued longer than a task may wait, end as failed."""
    cutoff = timezone.now() - timedelta(seconds=settings.BACKUP_TIMEOUT)
    for restore in Restore.objects.filter(account=account, status__in=[Restore.Status.QUEUED, Restore.Status.RUNNING]):
        never_started = restore.status == Restore.Status.QUEUED and restore.created < cutoff
        if never_started or process_gone(restore.claim_host, restore.claim_pid, restore.pk, "restore"):
            restore.finish(Restore.Status.FAILED, error=STOPPED)


def start_restore(account: Account, *, backup: Backup | None = None, archive_path: Path | None = None,
                  only: list[str] | None = None, trigger: str = Backup.Trigger.COMMAND, dry_run: bool = False,
                  run_here: bool = True) -> Restore:
    """Claim the account for one restore (by this process when ``run_here``); a sentence if one is under way."""
    if not account.is_connected:
        raise RestoreError(f"The trakt account {account.username} must be connected again before it can be restored.")
    if backup is not None and (backup.account_id != account.pk or backup.status != Backup.Status.SUCCESS):
        raise RestoreError("That backup is not a successful backup of this account.")
    recover_stale_restores(account)
    name = archive_path.name if archive_path else (backup.archive_name if backup else "")
    try:
        with transaction.atomic():
            claim = {"claim_host": this_host(), "claim_pid": os.getpid()} if run_here else {}
            return Restore.objects.create(account=account, archive_backup=backup, archive_name=name[:300],
                                          only=sorted(set(only or [])), trigger=trigger, dry_run=dry_run, **claim)
    except IntegrityError:
        raise RestoreError(f"A restore of {account.username} is already under way; wait for it to finish.") from None


# -- the plan ----------------------------------------------------------------------------------------


def _chosen(restore: Restore, safety: Backup) -> Backup:
    if restore.archive_backup is not None:
        return restore.archive_backup
    # Not an earlier restore's safety backup: that one holds the state the user is restoring away from.
    chosen = (Backup.objects.successful().filter(account=restore.account, created__lt=safety.created)
              .exclude(trigger=Backup.Trigger.RESTORE).order_by("-created").first())
    if chosen is None:
        raise RestoreError(f"{restore.account.username} has no earlier backup to restore.")
    return chosen


def open_file(path: Path, directory: Path) -> archive.UnpackedArchive:
    with open(path, "rb") as handle:
        return archive.UnpackedArchive.from_stream(handle, directory, name=path.name)


def _current(now: archive.UnpackedArchive, file: str) -> Any:
    """The account's value now; an unreadable one stops the restore (planning against nothing would post all)."""
    member = f"{file}.json"
    if member not in now.files:
        return []
    value = now.value(member)
    if value is None:
        raise RestoreError(f"The safety backup's {file} could not be read back; nothing was written.")
    return value


def _chosen_value(chosen: archive.UnpackedArchive, file: str) -> Any:
    member = f"{file}.json"
    return chosen.value(member) if member in chosen.files else None


def _wanted(only: list[str], file: str, row: Restorable) -> bool:
    return not only or file in only or row.file in only or (row.per_list and "users/lists" in only)


def plan_restore(chosen: archive.UnpackedArchive, now: archive.UnpackedArchive, only: list[str]) -> RestorePlan:
    plan = RestorePlan(chosen.name)
    for row in RESTORABLE:
        if row.way is Way.LISTS or row.per_list or not _wanted(only, row.file, row):
            continue
        if (value := _chosen_value(chosen, row.file)) is not None:
            plan.categories.append(plan_category(row, value, _current(now, row.file)))
    lists, targets = plan_lists(the_lists(), _chosen_value(chosen, "users/lists") or [],
                                _current(now, "users/lists"))
    # The lists chosen (all of them with "users/lists"), or whose items are: a missing one is created first.
    plan.lists = [t for t in targets if _wanted(only, "users/lists", the_lists())
                  or _wanted(only, list_items().file.format(list_id=t.archive_id), list_items())]
    lists.missing = [w for w in lists.missing if any(t.name == w.entry.get("name") and not t.current_id
                                                     for t in plan.lists)]
    if plan.lists:
        plan.categories.append(lists)
    for target in plan.lists:
        plan.categories.append(_list_items_plan(chosen, now, target,
                                                list_items().file.format(list_id=target.archive_id)))
    plan.not_restorable = _not_restorable(chosen)
    return plan


def _list_items_plan(chosen: archive.UnpackedArchive, now: archive.UnpackedArchive, target: ListTarget,
                     file: str) -> CategoryPlan:
    current = _current(now, list_items().file.format(list_id=target.current_id)) if target.current_id else []
    items = plan_category(list_items(), _chosen_value(chosen, file) or [], current)
    items.file, items.label, items.list_name = file, f"Items of list ‘{target.name}’", target.name
    return items


def _not_restorable(chosen: archive.UnpackedArchive) -> list[tuple[str, str]]:
    """Every file of the archive a restore does not write, with the reason (by its catalog row's file, so that
    a shared list's items read as "other people's lists")."""
    covered = {row.file for row in RESTORABLE}
    files = sorted(member.removesuffix(".json") for member in chosen.files if member.endswith(".json"))
    rows = {file: (category.file if (category := category_of(file)) else file) for file in files}
    return [(file, NOT_RESTORABLE.get(rows[file], NOT_RESTORABLE_OTHERWISE)) for file in files
            if rows[file] not in covered and file != "manifest"]


# -- running -----------------------------------------------------------------------------------------

Confirm = Callable[[RestorePlan], bool]


def _readable(when: str) -> str:
    """"2026-06-28T08:03:50Z" → "2026-06-28 08:03" (UTC, as trakt stores it); other words as they are."""
    return when.replace("T", " ")[:16] if len(when) == 20 and when.endswith("Z") else when


def _planned(category: CategoryPlan) -> dict:
    return {"label": category.label, "archive": category.archive, "current": category.current,
            "missing": category.to_write, "different": category.different,
            "first": [[write.title, _readable(write.when)] for write in category.missing[:10]],
            **Outcome().as_dict()}


class _Run:
    def __init__(self, restore: Restore, progress: Callable[[Restore], None] | None):
        self.restore = restore
        self.account = restore.account
        self.progress = progress
        self.client: TraktClient | None = None
        self.writer: Writer | None = None
        self.chosen: archive.UnpackedArchive | None = None  # the archive restored, unpacked by plan()
        self.results: dict[str, dict] = {}

    def plan(self, work: Path, archive_path: Path | None = None) -> RestorePlan:
        """The safety backup first, then the chosen archive (a backup, or a file given to the command) against it."""
        safety = run_backup(self.account, Backup.Trigger.RESTORE)
        if safety.status != Backup.Status.SUCCESS:
            raise RestoreError(f"The backup taken first (the account as it is now) failed: {safety.error}")
        Backup.objects.filter(pk=safety.pk).update(pinned=True)
        if archive_path is not None:
            self.restore.record(safety_backup=safety)
            self.chosen = open_file(archive_path, work / "chosen")
        else:
            backup = self.restore.archive_backup or _chosen(self.restore, safety)
            self.restore.record(safety_backup=safety, archive_backup=backup, archive_name=backup.archive_name)
            self.chosen = open_backup(backup, work / "chosen")
        plan = plan_restore(self.chosen, open_backup(safety, work / "now"), self.restore.only)
        self.results = {category.file: _planned(category) for category in plan.categories}
        self.restore.record(not_restorable=[list(pair) for pair in plan.not_restorable])
        self._save()
        return plan

    def apply(self, plan: RestorePlan) -> None:
        self.client = account_client(self.account)
        self.writer = Writer(self.client, reread=self._reread, progress=self._save)
        self._create_lists(plan)
        for category in plan.categories:
            if category.file == the_lists().file or not category.missing:
                continue
            row, endpoint = self._target(category, plan)
            if endpoint is None:
                continue  # its list could not be created (the reason is on the lists' line)
            outcome = self.writer.apply(category, row, endpoint, _chosen_value(self.chosen, category.file))
            self.results[category.file].update(outcome.as_dict())
            self._save()

    def _target(self, category: CategoryPlan, plan: RestorePlan) -> tuple[Restorable, str | None]:
        if not category.list_name:
            return BY_FILE[category.file], category.endpoint
        target = next(t for t in plan.lists if t.name == category.list_name)
        endpoint = list_items().endpoint.format(list_id=target.current_id) if target.current_id else None
        return list_items(), endpoint

    def _create_lists(self, plan: RestorePlan) -> None:
        """Create the lists missing by name (each at most once: a lost answer is checked by reading the lists)."""
        lists = next((c for c in plan.categories if c.file == the_lists().file), None)
        if lists is None or not lists.missing:
            return
        outcome = Outcome()
        for target in [t for t in plan.lists if t.current_id is None]:
            try:
                self.writer.writes += 1
                created = self.client.post(the_lists().endpoint, target.settings, idempotent=False)
                target.current_id = str(((created or {}).get("ids") or {}).get("trakt") or "") or None
            except AnswerLost:
                target.current_id = self._list_named(target.name)
            except LimitReached:
                outcome.refused = sum(1 for t in plan.lists if t.current_id is None)
                outcome.problem = limit_sentence(self.client, the_lists(), outcome.added, outcome.refused)
                break
            outcome.added += target.current_id is not None
        self.results[the_lists().file].update(outcome.as_dict())
        self._save()

    def _list_named(self, name: str) -> str | None:
        for entry in self.client.get_json(the_lists().endpoint) or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                return str((entry.get("ids") or {}).get("trakt") or "") or None
        return None

    def _reread(self, file: str) -> list:
        """A category's value on trakt now (after a lost answer): every page."""
        category = next(c for c in CATEGORIES if c.file == file)
        items: list = []
        for page in self.client.pages(category.endpoint, category.params):
            items.extend(page.items)
        return items

    def _save(self) -> None:
        fields: dict[str, Any] = {"categories": self.results}
        if self.client is not None:
            fields.update(requests_made=self.client.stats.requests, writes_made=self.writer.writes)
        self.restore.record(**fields)
        if self.progress:
            self.progress(self.restore)

    def status(self) -> str:
        troubled = any(result["refused"] or result["problem"] for result in self.results.values())
        return Restore.Status.PARTIAL if troubled else Restore.Status.SUCCESS


def execute_restore(restore: Restore, *, confirm: Confirm | None = None, dry_run: bool = False,
                    archive_path: Path | None = None, progress: Callable[[Restore], None] | None = None
                    ) -> tuple[Restore, RestorePlan | None]:
    """Run a claimed restore to its end: (the restore, its plan). Never leaves it half-recorded."""
    if not restore.claim(this_host(), os.getpid()):
        restore.refresh_from_db()
        return restore, None
    run, plan = _Run(restore, progress), None
    with holding_run_lock(restore.pk, "restore"), tempfile.TemporaryDirectory(prefix="restore-") as work:
        try:
            plan = run.plan(Path(work), archive_path)
            if dry_run or restore.dry_run or (confirm is not None and not confirm(plan)):
                declined = not (dry_run or restore.dry_run)
                restore.finish(Restore.Status.DECLINED if declined else Restore.Status.PLANNED)
                return restore, plan
            run.apply(plan)
        except (TraktError, ServiceError, OSError) as exc:
            restore.finish(Restore.Status.FAILED, error=failure(exc, restore.account)[1], categories=run.results)
            log.info("restore %s of %s failed: %s", restore.pk, restore.account.username, exc)
            return restore, plan
        except BaseException:
            restore.finish(Restore.Status.FAILED, error="The restore was interrupted; run it again to resume.",
                           categories=run.results)
            raise
        restore.finish(run.status(), categories=run.results)
    return restore, plan


def queue_restore(account: Account, backup: Backup, *, only: list[str] | None = None, dry_run: bool = False,
                  trigger: str = Backup.Trigger.MANUAL) -> Restore:
    """Claim the account and hand the restore (or, with ``dry_run``, its plan) to a worker: the dashboard's door."""
    from django_q.tasks import async_task

    restore = start_restore(account, backup=backup, only=only, trigger=trigger, dry_run=dry_run, run_here=False)
    try:
        async_task("backups.tasks.run_queued_restore", restore.pk, task_name=f"restore-{account.pk}-{restore.pk}",
                   group=f"restore:account-{account.pk}")
    except Exception as exc:  # the queue refused it: free the account again
        log.warning("could not queue restore %s: %s", restore.pk, exc)
        restore.finish(Restore.Status.FAILED, error="The restore could not be handed to a worker.")
        raise RestoreError("The restore could not be handed to a worker: the task queue is unavailable. "
                           "Try again in a moment; if it persists, check the worker and Redis.") from exc
    restore.refresh_from_db()
    return restore
