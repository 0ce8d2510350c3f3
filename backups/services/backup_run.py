"""One backup run: claim → plan → fetch → build → compare → publish → record, once, in that order.

``start_backup`` claims the account (the database allows one queued or running
backup per account); ``execute_backup`` does the work; ``run_backup`` is both.
The command line calls ``run_backup``; the web view and the scheduler call
``queue_backup`` and hand the id to a worker, which calls ``execute_backup``.

The archive is compared with the previous one's content digest **before** it is
published: an identical backup shares the previous file and never publishes its
own. The run's row is written once at the end, by ``Backup.mark_succeeded`` or
``Backup.mark_failed``; what follows (``retention.after_backup``) never rewrites it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from backups import archive, storage
from backups.models import Account, Backup, Restore
from backups.services import integrity, retention
from backups.services.backup_fetch import BackupFetch
from backups.services.grants import (
    NotConfigured, ReconnectNeeded, ServiceError, account_client, app_credentials,
)
from backups.services.run_claims import holding_run_lock, process_gone, this_host
from backups.trakt_client import AccessDenied, AccountLocked, TraktClient, TraktError, Unavailable
from trakt_web import __version__

log = logging.getLogger(__name__)

STOPPED_MESSAGE = ("The backup stopped without finishing (the worker was stopped or the machine restarted). "
                   "Nothing was kept; the next backup starts afresh.")


class BackupAlreadyRunning(ServiceError):
    pass


@dataclass
class Progress:
    """What a running backup reports as it goes (shown live on the dashboard and in the terminal)."""

    categories_total: int = 0
    categories_done: int = 0
    pages_fetched: int = 0


ProgressCallback = Callable[[Progress], None]


def account_archive_dir(account: Account) -> Path:
    """The local folder where the account's archives are built (and kept, with local storage)."""
    return Path(settings.ARCHIVE_DIR) / account.archive_folder


# -- claiming ------------------------------------------------------------------------------------


def start_backup(account: Account, trigger: str = Backup.Trigger.MANUAL, full: bool = False, *,
                 run_here: bool = False) -> Backup:
    """Claim the account for one backup, or refuse with a sentence if one is under way.

    ``run_here``: this process runs it (the command line), so the claim names this process from the start.
    """
    if not account.is_connected:
        raise ReconnectNeeded(f"The trakt account {account.username} must be connected again before it can be backed up.")
    recover_stale_backups(account)
    if trigger != Backup.Trigger.RESTORE and _restore_under_way(account):
        raise BackupAlreadyRunning(f"A restore of {account.username} is under way; back up when it has finished.")
    claim = {"claim_host": this_host(), "claim_pid": os.getpid()} if run_here else {}
    try:
        with transaction.atomic():
            return Backup.objects.create(account=account, trigger=trigger, status=Backup.Status.QUEUED, full=full,
                                         **claim)
    except IntegrityError:
        raise BackupAlreadyRunning(
            f"A backup of {account.username} is already under way; wait for it to finish."
        ) from None


def _restore_under_way(account: Account) -> bool:
    """One backup or restore per account at a time (a restore's own safety backup excepted)."""
    from backups.services.restore_run import recover_stale_restores  # it builds on this module

    recover_stale_restores(account)
    return Restore.objects.filter(account=account, status__in=[Restore.Status.QUEUED, Restore.Status.RUNNING]).exists()


def _stale(account: Account | None):
    """Active runs that are dead: their process is gone (this host), silent too long, or never picked up."""
    now = timezone.now()
    silent = now - timedelta(seconds=min(settings.BACKUP_HEARTBEAT_TIMEOUT, settings.BACKUP_TIMEOUT))
    cutoff = now - timedelta(seconds=settings.BACKUP_TIMEOUT)
    active = Backup.objects.active().select_related("account")
    if account is not None:
        active = active.filter(account=account)
    for backup in active:
        if process_gone(backup.claim_host, backup.claim_pid, backup.pk):
            yield backup
        elif backup.status == Backup.Status.RUNNING and backup.heartbeat and backup.heartbeat < silent:
            yield backup
        elif backup.created < cutoff and (backup.status == Backup.Status.QUEUED or backup.heartbeat is None):
            yield backup


def recover_stale_backups(account: Account | None = None) -> int:
    """Mark backups whose process died as failed, and remove their temporary files.

    A run of this host whose process is gone is dead at once (``run_claims``). Elsewhere, a
    running backup beats its heartbeat about every second, even while it waits out a 429; one
    silent for ``BACKUP_HEARTBEAT_TIMEOUT`` (or the task timeout, if shorter) is dead. A queued
    one older than the task timeout never reached a worker.
    """
    count = 0
    for backup in list(_stale(account)):
        if backup.mark_failed(Backup.ErrorKind.STOPPED, STOPPED_MESSAGE):
            archive.remove_leftovers(account_archive_dir(backup.account))
            count += 1
    return count


# -- running -------------------------------------------------------------------------------------


def run_backup(account: Account, trigger: str = Backup.Trigger.COMMAND, progress: ProgressCallback | None = None,
               full: bool = False) -> Backup:
    return execute_backup(start_backup(account, trigger, full=full, run_here=True), progress)


def execute_backup(backup: Backup, progress: ProgressCallback | None = None) -> Backup:
    """Run a claimed backup to the end. Always leaves it succeeded or failed, never half-done."""
    if not backup.claim(this_host(), os.getpid()):
        return backup  # already run, or recovered as stale
    with holding_run_lock(backup.pk):
        run = _Run(backup, _Reporter(backup, progress))
        try:
            run.execute()
        except BaseException as exc:  # noqa: BLE001 - every way out must leave no partial archive
            run.fail(exc)
            if not isinstance(exc, Exception):
                raise
    retention.after_backup(backup)
    return backup


class _Run:
    """The state of one run between its claim and its record."""

    def __init__(self, backup: Backup, reporter: _Reporter):
        self.backup = backup
        self.account = backup.account
        self.reporter = reporter
        self.writer: archive.ArchiveWriter | None = None
        self.client: TraktClient | None = None

    def execute(self) -> None:
        account = self.account
        full = self.backup.full or not _recent_full_backup(account)
        directory = account_archive_dir(account)
        archive.remove_leftovers(directory)  # safe: this account has no other run (database constraint)
        moment = free_moment(account, self.backup.started)
        self.writer = archive.ArchiveWriter(directory, archive.archive_name(account.archive_folder, moment), moment)
        self.client = account_client(account, app_credentials(), in_flight=settings.TRAKT_CONCURRENCY)
        self.client.sleep = self.reporter.sleep  # waits (429s, backoff) keep the heartbeat going
        _count_recent_requests(self.client, self.backup)
        previous = None if full else _previous_archive(account, self.writer)
        fetch_started = time.monotonic()
        fetch = BackupFetch(self.client, self.writer, previous=previous, concurrency=settings.TRAKT_CONCURRENCY,
                            on_progress=self.reporter.progress)
        counts = fetch.run()
        log.info("backup %s: fetched in %.1f s, %.2f requests in flight on average", self.backup.pk,
                 time.monotonic() - fetch_started, self.client.stats.average_in_flight())
        common = dict(item_counts=counts, lists=fetch.lists(), skipped=fetch.skipped(), full=previous is None,
                      folder=account.archive_folder, content_sha256=self.writer.content_digest(),
                      requests_made=self.client.stats.requests, **self.reporter.final())
        twin = _identical_previous(account, common["content_sha256"])
        if twin is not None:
            self.writer.abort()
            self._succeed(**{**common, **_shared_file(twin)})
        else:
            self._publish(common, previous)

    def _publish(self, common: dict, previous: archive.UnpackedArchive | None) -> None:
        stats = self.client.stats
        publish_archive(self.backup, self.writer, requests=stats.requests, fields=common,
                        extra={"retries": stats.retries, "rate_limited": stats.rate_limited,
                               "incremental": previous is not None, "previous": previous.name if previous else None})

    def _succeed(self, **fields) -> bool:
        return record_success(self.backup, **fields)

    def fail(self, exc: BaseException) -> None:
        if self.writer is not None:
            self.writer.abort()
        kind, message = failure(exc, self.account)
        log.warning("backup %s of %s failed: %s", self.backup.pk, self.account.username, message,
                    exc_info=not isinstance(exc, (TraktError, ServiceError)))
        self.backup.mark_failed(kind, message, requests_made=self.client.stats.requests if self.client else 0)
        self.backup.refresh_from_db()


def record_success(backup: Backup, **fields) -> bool:
    """The run's one record of success; False when it was given up as stale meanwhile (it keeps that failure)."""
    if not backup.mark_succeeded(**fields):
        log.warning("backup %s of %s finished after it was given up as stale; its archive was dropped",
                    backup.pk, backup.account.username)
        backup.refresh_from_db()
        return False
    log.info("backup %s of %s: %s (%s bytes, %d requests)", backup.pk, backup.account.username,
             backup.archive_name, backup.size, backup.requests_made)
    return True


def publish_archive(backup: Backup, writer: archive.ArchiveWriter, *, requests: int, fields: dict,
                    extra: dict) -> bool:
    """Finish the archive (its manifest carries ``extra``), put it in the archive storage and record the run's
    success with ``fields``: never an archive without its record, nor a record without its archive."""
    account = backup.account
    path, size, sha256 = writer.finish(username=account.username, app_version=__version__, requests=requests,
                                       extra=extra)
    key = f"{account.archive_folder}/{path.name}"
    try:
        storage.publish(path, key)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    try:
        recorded = record_success(backup, **fields, archive_name=path.name, size=size, sha256=sha256)
    except BaseException:
        storage.delete(key)  # no archive without its record
        raise
    if not recorded:
        storage.delete(key)
    return recorded


def _recent_full_backup(account: Account) -> bool:
    since = timezone.now() - timedelta(days=settings.FULL_BACKUP_DAYS)
    return Backup.objects.successful().filter(account=account, full=True, created__gte=since).exists()


def free_moment(account: Account, moment):
    """The run's time for its archive name: the next second not taken by an earlier archive of the account
    (names carry the second; two quick runs must never share a file)."""
    taken = set(Backup.objects.filter(account=account).exclude(archive_name="").values_list("archive_name", flat=True))
    while f"{archive.archive_name(account.archive_folder, moment)}{archive.SUFFIX}" in taken:
        moment += timedelta(seconds=1)
    return moment


def _count_recent_requests(client: TraktClient, backup: Backup) -> None:
    """Earlier runs of this account (in other processes) used part of trakt's window: start from there."""
    if client.limiter is None:
        return
    now = timezone.now()
    recent = Backup.objects.filter(account=backup.account, finished__gte=now - timedelta(
        seconds=settings.TRAKT_RATE_PERIOD)).exclude(pk=backup.pk).values_list("finished", "requests_made")
    for finished, requests in recent:
        client.limiter.note_past(requests, (now - finished).total_seconds())


def _newest_good(account: Account) -> Backup | None:
    """The archive an incremental backup carries files over from: never an imported export (its files are trakt's
    export's, which may differ in shape from the API's answers)."""
    return (Backup.objects.successful().filter(account=account).exclude(verify_ok=False).exclude(archive_name="")
            .exclude(trigger=Backup.Trigger.IMPORT).order_by("-created").first())


def _previous_archive(account: Account, writer: archive.ArchiveWriter) -> archive.UnpackedArchive | None:
    """The newest good archive of the account, unpacked for carrying over; None means a full backup."""
    previous = _newest_good(account)
    if previous is None:
        return None
    try:
        return open_backup(previous, writer.work / "previous")
    except Exception as exc:  # noqa: BLE001 - a damaged previous archive only means a full backup
        log.warning("previous archive %s unusable (%s); taking a full backup", previous.archive_name, exc)
        return None


def open_backup(backup: Backup, directory: Path) -> archive.UnpackedArchive:
    """A backup's archive from the archive storage, unpacked into ``directory`` and checked against its sha256."""
    with storage.open_archive(backup.archive_key) as handle:
        return archive.UnpackedArchive.from_stream(handle, directory, expected_sha256=backup.sha256,
                                                   name=backup.archive_name)


def _identical_previous(account: Account, content_sha256: str) -> Backup | None:
    """The previous backup, when its content equals this run's and its file is intact: this run shares it."""
    if not settings.DEDUP_IDENTICAL_BACKUPS:
        return None
    previous = Backup.objects.successful().filter(account=account).order_by("-created").first()
    if previous is None or previous.content_sha256 != content_sha256 or previous.verify_ok is False:
        return None
    return previous if integrity.checksum_matches(previous) else None  # never share a damaged file


def _shared_file(twin: Backup) -> dict:
    return dict(same_as=twin, archive_name=twin.archive_name, folder=twin.folder, size=twin.size, sha256=twin.sha256,
                verify_ok=twin.verify_ok, verified_at=twin.verified_at)


def failure(exc: BaseException, account: Account) -> tuple[str, str]:
    """(error kind, sentence for people) of what made a run fail."""
    kinds = Backup.ErrorKind
    if isinstance(exc, (ReconnectNeeded, AccessDenied)):
        return kinds.RECONNECT, (
            f"trakt no longer accepts the connection of {account.username}: connect the account again "
            f"(dashboard → Reconnect, or `python manage.py trakt_auth -u {account.username} --device`).")
    if isinstance(exc, AccountLocked):
        return kinds.LOCKED, (f"trakt has locked the account {account.username}: sign in at trakt.tv to unlock it, "
                              "then back up again.")
    if isinstance(exc, NotConfigured):
        return kinds.NOT_CONFIGURED, str(exc)
    if isinstance(exc, Unavailable):
        return kinds.UNAVAILABLE, str(exc)
    if isinstance(exc, (TraktError, ServiceError)):
        return kinds.TRAKT, str(exc)
    if isinstance(exc, OSError):
        return kinds.STORAGE, (f"The archive could not be written ({exc.strerror or exc}): "
                               "check the free space of the data folder.")
    if isinstance(exc, KeyboardInterrupt):
        return kinds.INTERRUPTED, "The backup was interrupted; nothing was kept."
    return kinds.UNEXPECTED, f"The backup failed unexpectedly ({type(exc).__name__}); see the log for details."


class _Reporter:
    """Pushes progress to the row (throttled) and to an optional callback."""

    def __init__(self, backup: Backup, callback: ProgressCallback | None):
        self.backup = backup
        self.callback = callback
        self.state = Progress()
        self._last = 0.0
        self.thread = threading.current_thread()

    def progress(self, done: int, total: int, pages: int) -> None:
        self.state = Progress(categories_total=total, categories_done=done, pages_fetched=pages)
        if self.callback:
            self.callback(self.state)
        self._beat()

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._last >= 0.5:
            self._last = now
            self.backup.beat(categories_done=self.state.categories_done,
                             categories_total=self.state.categories_total, pages_fetched=self.state.pages_fetched)

    def sleep(self, seconds: float) -> None:
        """Sleep in short steps, beating the heartbeat when in the run's own thread (it owns the connection)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 1.0))
            if threading.current_thread() is self.thread:
                self._beat()

    def final(self) -> dict:
        """The progress fields of a finished run: every category done."""
        total = self.state.categories_total
        return dict(categories_done=total, categories_total=total, pages_fetched=self.state.pages_fetched)


def queue_backup(account: Account, trigger: str = Backup.Trigger.MANUAL, full: bool = False) -> Backup:
    """Claim the account and hand the run to a worker (the web's "Back up now" and the admin action)."""
    from django_q.tasks import async_task

    backup = start_backup(account, trigger, full=full)
    try:
        async_task("backups.tasks.run_queued_backup", backup.pk, task_name=f"backup-{account.pk}-{backup.pk}",
                   group=f"backup:account-{account.pk}")
    except Exception as exc:  # the queue (Redis, the database) refused it: free the account again
        log.warning("could not queue backup %s: %s", backup.pk, exc)
        backup.mark_failed(Backup.ErrorKind.QUEUE, "The backup could not be handed to a worker (the task queue is "
                                                   "unavailable); try again shortly.")
        raise ServiceError("The backup could not be handed to a worker: the task queue is unavailable. "
                           "Try again in a moment; if it persists, check the worker and Redis.") from exc
    backup.refresh_from_db()
    return backup
