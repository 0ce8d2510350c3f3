"""One backup run: fetch every category of the catalog into an archive.

``start_backup`` claims the account (the database allows one queued or running
backup per account); ``execute_backup`` does the work; ``run_backup`` is both.
The command line calls ``run_backup``; the web view and the scheduler call
``start_backup`` and hand the id to a worker, which calls ``execute_backup``.
"""

from __future__ import annotations

import logging
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
from backups.models import Account, Backup
from backups.services.fetcher import Fetcher, PreviousArchive
from backups.services.grants import ReconnectNeeded, ServiceError, account_client, app_credentials
from backups.trakt_client import AccessDenied, AccountLocked, TraktClient, TraktError
from trakt_web import __version__

log = logging.getLogger(__name__)


class BackupAlreadyRunning(ServiceError):
    pass


@dataclass
class Progress:
    """What a running backup reports as it goes (shown live on the dashboard and in the terminal)."""

    categories_total: int = 0
    categories_done: int = 0
    pages_fetched: int = 0
    current: str = ""


ProgressCallback = Callable[[Progress], None]


def archive_root() -> Path:
    return Path(settings.ARCHIVE_DIR)


def account_archive_dir(account: Account) -> Path:
    """The local folder where the account's archives are built (and kept, with local storage)."""
    return archive_root() / account.archive_folder


def start_backup(account: Account, trigger: str = Backup.Trigger.MANUAL, full: bool = False) -> Backup:
    """Claim the account for one backup, or refuse with a sentence if one is under way."""
    if not account.is_connected:
        raise ReconnectNeeded(f"The trakt account {account.username} must be connected again before it can be backed up.")
    recover_stale_backups(account)
    try:
        with transaction.atomic():
            return Backup.objects.create(account=account, trigger=trigger, status=Backup.Status.QUEUED, full=full)
    except IntegrityError:
        raise BackupAlreadyRunning(
            f"A backup of {account.username} is already under way; wait for it to finish."
        ) from None


def recover_stale_backups(account: Account | None = None) -> int:
    """Mark backups whose worker died as failed, and remove their temporary files.

    A running backup beats its heartbeat about every second, even while it waits
    out a 429; one silent for ``BACKUP_HEARTBEAT_TIMEOUT`` (or the task timeout, if
    shorter) is dead. A queued one older than the task timeout never reached a worker.
    """
    now = timezone.now()
    silent = now - timedelta(seconds=min(settings.BACKUP_HEARTBEAT_TIMEOUT, settings.BACKUP_TIMEOUT))
    cutoff = now - timedelta(seconds=settings.BACKUP_TIMEOUT)
    active = [Backup.Status.QUEUED, Backup.Status.RUNNING]
    stale = (Backup.objects.filter(status=Backup.Status.RUNNING, heartbeat__lt=silent)
             | Backup.objects.filter(status__in=active, heartbeat__isnull=True, created__lt=cutoff)
             | Backup.objects.filter(status=Backup.Status.QUEUED, created__lt=cutoff))
    if account is not None:
        stale = stale.filter(account=account)
    count = 0
    for backup in stale.select_related("account"):
        updated = Backup.objects.filter(pk=backup.pk, status__in=[Backup.Status.QUEUED, Backup.Status.RUNNING]).update(
            status=Backup.Status.FAILED,
            finished=timezone.now(),
            error="The backup stopped without finishing (the worker was stopped or the machine restarted). "
                  "Nothing was kept; the next backup starts afresh.",
        )
        if updated:
            archive.remove_leftovers(account_archive_dir(backup.account))
            count += 1
    return count


def run_backup(account: Account, trigger: str = Backup.Trigger.COMMAND, progress: ProgressCallback | None = None,
               full: bool = False) -> Backup:
    return execute_backup(start_backup(account, trigger, full=full), progress)


def _count_recent_requests(client: TraktClient, backup: Backup) -> None:
    """Earlier runs of this account (in other processes) used part of trakt's window: start from there."""
    if client.limiter is None:
        return
    now = timezone.now()
    recent = Backup.objects.filter(account=backup.account, finished__gte=now - timedelta(
        seconds=settings.TRAKT_RATE_PERIOD)).exclude(pk=backup.pk).values_list("finished", "requests_made")
    for finished, requests in recent:
        client.limiter.note_past(requests, (now - finished).total_seconds())


def _free_second(account: Account, moment):
    """The run's time for its archive name: the next second not taken by an earlier archive of the account
    (names carry the second; two quick runs must never share a file)."""
    taken = set(Backup.objects.filter(account=account).exclude(archive_name="").values_list("archive_name", flat=True))
    folder = account.archive_folder
    while f"backup-{folder}-{archive.archive_stamp(moment)}.tar.gz" in taken:
        moment += timedelta(seconds=1)
    return moment


def _recent_full_backup(account: Account) -> bool:
    since = timezone.now() - timedelta(days=settings.FULL_BACKUP_DAYS)
    return Backup.objects.filter(account=account, status=Backup.Status.SUCCESS, full=True, created__gte=since).exists()


def _previous_archive(account: Account, writer: archive.ArchiveWriter) -> PreviousArchive | None:
    """The newest good archive of the account, unpacked for carrying over; None means a full backup."""
    previous = (Backup.objects.filter(account=account, status=Backup.Status.SUCCESS).exclude(verify_ok=False)
                .exclude(archive_name="").order_by("-created").first())
    if previous is None:
        return None
    try:
        unpacked = PreviousArchive(previous.archive_key, writer.work / "previous", previous.sha256)
    except Exception as exc:  # noqa: BLE001 - a damaged previous archive only means a full backup
        log.warning("previous archive %s unusable (%s); taking a full backup", previous.archive_name, exc)
        return None
    unpacked.manifest_name = previous.archive_name
    return unpacked


def execute_backup(backup: Backup, progress: ProgressCallback | None = None, full: bool | None = None) -> Backup:
    """Run a claimed backup to the end. Always leaves it succeeded or failed, never half-done.

    ``full`` fetches every category; by default a run is incremental when a recent full backup exists.
    """
    account = backup.account
    if full is None:
        full = backup.full or not _recent_full_backup(account)
    now = timezone.now()
    claimed = Backup.objects.filter(pk=backup.pk, status=Backup.Status.QUEUED).update(
        status=Backup.Status.RUNNING, started=now, heartbeat=now
    )
    if not claimed:
        backup.refresh_from_db()
        return backup  # already run, or recovered as stale
    backup.status, backup.started = Backup.Status.RUNNING, now
    writer: archive.ArchiveWriter | None = None
    client: TraktClient | None = None
    reporter = _Reporter(backup, progress)
    try:
        directory = account_archive_dir(account)
        archive.remove_leftovers(directory)  # safe: this account has no other run (database constraint)
        writer = archive.ArchiveWriter(directory, account.slug or account.username, _free_second(account, now))
        client = account_client(account, app_credentials())
        client.sleep = reporter.sleep  # waits (429s, backoff) keep the heartbeat going
        _count_recent_requests(client, backup)
        previous = None if full else _previous_archive(account, writer)
        backup.full = previous is None
        fetcher = Fetcher(client, writer, previous=previous, concurrency=settings.TRAKT_CONCURRENCY,
                          on_progress=reporter.progress)
        fetch_started = time.monotonic()
        counts = fetcher.run()
        fetched_at = time.monotonic()
        path, size, sha256 = writer.finish(
            username=account.username, app_version=__version__, requests=client.stats.requests,
            extra={"retries": client.stats.retries, "rate_limited": client.stats.rate_limited,
                   "incremental": previous is not None,
                   "previous": previous.manifest_name if previous else None},
        )
        log.info("backup %s: fetched in %.1f s, archive written in %.1f s", backup.pk,
                 fetched_at - fetch_started, time.monotonic() - fetched_at)
        try:
            storage.publish(path, f"{account.archive_folder}/{path.name}")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    except BaseException as exc:  # noqa: BLE001 - every way out must leave no partial archive
        if writer is not None:
            writer.abort()
        message = _failure_message(exc, account)
        log.warning("backup %s of %s failed: %s", backup.pk, account.username, message,
                    exc_info=not isinstance(exc, (TraktError, ServiceError)))
        Backup.objects.filter(pk=backup.pk).update(
            status=Backup.Status.FAILED, finished=timezone.now(), error=message,
            requests_made=client.stats.requests if client else 0,
        )
        backup.refresh_from_db()
        if not isinstance(exc, Exception):
            raise
        _after_run(backup)
        return backup
    finished = timezone.now()
    fields = dict(
        status=Backup.Status.SUCCESS, finished=finished, heartbeat=finished, archive_name=path.name,
        folder=account.archive_folder, size=size,
        sha256=sha256, content_sha256=writer.content_digest(), item_counts=counts,
        requests_made=client.stats.requests, categories_done=reporter.state.categories_total,
        categories_total=reporter.state.categories_total, pages_fetched=reporter.state.pages_fetched, error="",
        full=backup.full,
    )
    # Only a run that is still ours may succeed: one recovered as stale meanwhile keeps its failure.
    try:
        updated = Backup.objects.filter(pk=backup.pk, status=Backup.Status.RUNNING).update(**fields)
    except BaseException:
        storage.delete(f"{account.archive_folder}/{path.name}")  # no archive without its record
        raise
    if not updated:
        storage.delete(f"{account.archive_folder}/{path.name}")
        log.warning("backup %s of %s finished after it was given up as stale; its archive was dropped",
                    backup.pk, account.username)
        backup.refresh_from_db()
        return backup
    for name, value in fields.items():
        setattr(backup, name, value)
    log.info("backup %s of %s: %s (%d bytes, %d requests)", backup.pk, account.username, path.name, size,
             backup.requests_made)
    _after_run(backup)
    return backup


def _after_run(backup: Backup) -> None:
    from backups.services import retention  # late import: retention works on finished backups

    retention.after_backup(backup)


def _failure_message(exc: BaseException, account: Account) -> str:
    if isinstance(exc, (ReconnectNeeded, AccessDenied)):
        return (f"trakt no longer accepts the connection of {account.username}: connect the account again "
                f"(dashboard → Reconnect, or `python manage.py trakt_auth -u {account.username} --device`).")
    if isinstance(exc, AccountLocked):
        return f"trakt has locked the account {account.username}: sign in at trakt.tv to unlock it, then back up again."
    if isinstance(exc, (TraktError, ServiceError)):
        return str(exc)
    if isinstance(exc, OSError):
        return f"The archive could not be written ({exc.strerror or exc}): check the free space of the data folder."
    if isinstance(exc, KeyboardInterrupt):
        return "The backup was interrupted; nothing was kept."
    return f"The backup failed unexpectedly ({type(exc).__name__}); see the log for details."


class _Reporter:
    """Pushes progress to the row (throttled) and to an optional callback."""

    def __init__(self, backup: Backup, callback: ProgressCallback | None):
        self.backup = backup
        self.callback = callback
        self.state = Progress()
        self._last = 0.0
        self.thread = threading.current_thread()

    def update(self, force: bool = False, **changes) -> None:
        for name, value in changes.items():
            setattr(self.state, name, value)
        if self.callback:
            self.callback(self.state)
        now = time.monotonic()
        if force or now - self._last >= 0.5:
            self._last = now
            Backup.objects.filter(pk=self.backup.pk).update(
                categories_total=self.state.categories_total, categories_done=self.state.categories_done,
                pages_fetched=self.state.pages_fetched, heartbeat=timezone.now(),
            )

    def sleep(self, seconds: float) -> None:
        """Sleep in short steps, beating the heartbeat when in the run's own thread (it owns the connection)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 1.0))
            if threading.current_thread() is self.thread:
                self.update()

    def progress(self, done: int, total: int, pages: int) -> None:
        self.update(categories_done=done, categories_total=total, pages_fetched=pages)


def queue_backup(account: Account, trigger: str = Backup.Trigger.MANUAL, full: bool = False) -> Backup:
    """Claim the account and hand the run to a worker (the web's "Back up now" and the admin action)."""
    from django_q.tasks import async_task

    backup = start_backup(account, trigger, full=full)
    try:
        async_task("backups.tasks.run_queued_backup", backup.pk, task_name=f"backup-{account.pk}-{backup.pk}",
                   group=f"backup:account-{account.pk}")
    except Exception as exc:  # the queue (Redis, the database) refused it: free the account again
        log.warning("could not queue backup %s: %s", backup.pk, exc)
        Backup.objects.filter(pk=backup.pk, status=Backup.Status.QUEUED).update(
            status=Backup.Status.FAILED, finished=timezone.now(),
            error="The backup could not be handed to a worker (the task queue is unavailable); try again shortly.")
        raise ServiceError("The backup could not be handed to a worker: the task queue is unavailable. "
                           "Try again in a moment; if it persists, check the worker and Redis.") from exc
    backup.refresh_from_db()
    return backup
