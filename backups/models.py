"""What trakt-backup stores: the API app, connected accounts, their auth log and backups."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from backups.archive.names import SUFFIX, archive_name
from backups.crypto import EncryptedTextField
from backups.untrusted import visible


class AppCredentials(models.Model):
    """The trakt API app (Client ID and Client Secret); one row per installation."""

    client_id = models.CharField(max_length=200)
    client_secret = EncryptedTextField()
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "trakt app credentials"

    def __str__(self) -> str:
        return f"trakt app {self.client_id[:8]}…"

    @classmethod
    def current(cls) -> AppCredentials | None:
        return cls.objects.order_by("-id").first()


class Account(models.Model):
    """A connected trakt account and its OAuth grant."""

    class Status(models.TextChoices):
        CONNECTED = "connected", "Connected"
        NEEDS_RECONNECT = "needs_reconnect", "Must be connected again"
        DISCONNECTED = "disconnected", "Disconnected"
        IMPORTED = "imported", "Imported only"  # archives from trakt's export; never connected (no token)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trakt_accounts")
    username = models.CharField(max_length=200, help_text="trakt username")
    slug = models.CharField(max_length=200, blank=True)
    trakt_id = models.CharField(max_length=100, blank=True, help_text="trakt's stable user id (uuid or number)")
    access_token = EncryptedTextField(blank=True)
    refresh_token = EncryptedTextField(blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    token_lifetime = models.PositiveIntegerField(null=True, blank=True, help_text="seconds trakt issued the token for")
    scope = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CONNECTED)
    status_detail = models.TextField(blank=True)
    connected_at = models.DateTimeField(default=timezone.now)
    backup_cron = models.CharField(max_length=100, blank=True, help_text="cron expression of the backup schedule")
    keep_last = models.PositiveIntegerField(default=10)
    keep_monthly = models.PositiveIntegerField(default=12)
    created = models.DateTimeField(auto_now_add=True)
    # A refresh in progress: who holds it and until when (see services/grants.py; never held across a wait
    # for the database, so a slow trakt blocks no other writer).
    refresh_lease_owner = models.CharField(max_length=64, blank=True)
    refresh_lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(fields=["trakt_id"], condition=~models.Q(trakt_id=""), name="unique_trakt_id"),
        ]

    def __str__(self) -> str:
        """The name as people see it wherever Django shows the account (the admin's titles, breadcrumbs, filters
        and the columns of backups and restores): hidden characters visible, so "\\u202eecila" is not "alice"."""
        return visible(self.username)

    @property
    def archive_folder(self) -> str:
        """The folder (and storage key prefix) of this account's archives."""
        from backups.archive import safe_component

        return safe_component(self.slug or self.username, "user")

    @property
    def is_connected(self) -> bool:
        return self.status == self.Status.CONNECTED and bool(self.refresh_token)

    def token_valid(self, margin: timedelta = timedelta(0)) -> bool:
        return bool(
            self.access_token and self.token_expires_at and self.token_expires_at - margin > timezone.now()
        )


class AuthEvent(models.Model):
    """One OAuth handshake of an account: what the old `auth-USER` log file held, minus the tokens."""

    class Kind(models.TextChoices):
        EXCHANGE = "exchange", "Code exchange"
        DEVICE = "device", "Device code"
        REFRESH = "refresh", "Refresh"
        REVOKE = "revoke", "Revoke"
        FAILURE = "failure", "Failure"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="auth_events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    ok = models.BooleanField(default=True)
    detail = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.account} {self.kind} {'ok' if self.ok else 'failed'}"


class BackupQuerySet(models.QuerySet):
    def active(self) -> BackupQuerySet:
        return self.filter(status__in=[Backup.Status.QUEUED, Backup.Status.RUNNING])

    def successful(self) -> BackupQuerySet:
        return self.filter(status=Backup.Status.SUCCESS)


class RunLifecycle:
    """What a backup and a restore share: a status that goes queued → running → an end, each step written only
    if the row is still where the step starts from (two processes never both claim or finish one run)."""

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    def _update(self, only_if: list[str] | None = None, **fields) -> bool:
        """Write ``fields`` (to the row, and to this object when written) if the row's status is one of ``only_if``."""
        rows = type(self).objects.filter(pk=self.pk)
        if only_if is not None:
            rows = rows.filter(status__in=only_if)
        if not rows.update(**fields):
            return False
        for name, value in fields.items():
            setattr(self, name, value)
        if fields.get("status") not in (None, self.Status.QUEUED, self.Status.RUNNING):
            RunTally.count(type(self).__name__.lower(), fields["status"])
        return True

    def claim(self, host: str, pid: int) -> bool:
        """Queued → running, by this process; False (and the row re-read) if another got there first."""
        now = timezone.now()
        claimed = self._update([self.Status.QUEUED], status=self.Status.RUNNING, started=now, heartbeat=now,
                               claim_host=host, claim_pid=pid)
        if not claimed:
            self.refresh_from_db()
        return claimed


class Backup(RunLifecycle, models.Model):
    """One backup run of an account and the archive it produced.

    Its lifecycle is here and nowhere else: ``claim`` (queued → running, by this
    process), ``beat`` (progress and heartbeat), then exactly one of ``mark_failed``
    or ``mark_succeeded``. Each is one conditional UPDATE, so a run given up as
    stale by another process can never be recorded as a success afterwards.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCESS = "success", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        COMMAND = "command", "Command line"
        SCHEDULE = "schedule", "Scheduled"
        RESTORE = "restore", "Before restore"
        IMPORT = "import", "Imported"

    class ErrorKind(models.TextChoices):
        RECONNECT = "reconnect", "The account must be connected again"
        LOCKED = "locked", "trakt locked the account"
        UNAVAILABLE = "unavailable", "trakt could not be reached or was busy"
        TRAKT = "trakt", "trakt refused a request"
        STORAGE = "storage", "The archive could not be written"
        NOT_CONFIGURED = "not_configured", "The trakt API app is not set up"
        INTERRUPTED = "interrupted", "The run was interrupted"
        STOPPED = "stopped", "The worker stopped"
        QUEUE = "queue", "The task queue was unavailable"
        UNEXPECTED = "unexpected", "An unexpected error"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="backups")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    full = models.BooleanField(default=True, help_text="every category fetched (no carry-over)")
    created = models.DateTimeField(default=timezone.now, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    archive_name = models.CharField(max_length=300, blank=True)
    folder = models.CharField(
        max_length=120, blank=True, help_text="the account's archive folder when this archive was made"
    )
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    content_sha256 = models.CharField(
        max_length=64, blank=True, help_text="digest of the archived files' digests: equal content, equal value"
    )
    item_counts = models.JSONField(default=dict, blank=True)
    lists = models.JSONField(default=dict, blank=True,
                             help_text="the lists whose items it holds: trakt id → name and item count")
    skipped = models.JSONField(default=dict, blank=True,
                               help_text="the categories trakt did not provide (VIP only, …): file → reason")
    problems = models.TextField(blank=True, help_text="why the archive is partial (an import of an export trakt "
                                                      "cut short), in sentences")
    requests_made = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    error_kind = models.CharField(max_length=20, choices=ErrorKind.choices, blank=True,
                                  help_text="what kind of failure (chooses the advice shown beside the error)")
    # Which process runs it: a run on this host whose process is gone is recognised at once.
    claim_host = models.CharField(max_length=255, blank=True)
    claim_pid = models.PositiveIntegerField(null=True, blank=True)
    # live progress for the dashboard
    categories_total = models.PositiveIntegerField(default=0)
    categories_done = models.PositiveIntegerField(default=0)
    pages_fetched = models.PositiveIntegerField(default=0)
    pinned = models.BooleanField(default=False, help_text="kept by retention whatever its age")
    same_as = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="identical content to this earlier backup, whose archive file it shares",
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verify_ok = models.BooleanField(null=True)

    objects = BackupQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        # Superusers have it; give it in the admin to staff who may read every user's archives.
        permissions = [("view_all_archives", "Can read and download every user's archives")]
        constraints = [
            # One backup per account at a time, enforced by the database.
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_backup_per_account",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.created:%Y-%m-%d %H:%M} {self.status}"

    @property
    def duration(self) -> timedelta | None:
        if self.started and self.finished:
            return self.finished - self.started
        return None

    @property
    def total_items(self) -> int:
        return sum(v for v in self.item_counts.values() if isinstance(v, int))

    @property
    def archive_key(self) -> str:
        """Where the archive lives in the archive storage (see backups/storage.py)."""
        if not self.archive_name:
            return ""
        # The folder is kept per backup: a trakt username can change, its old archives stay where they are.
        return f"{self.folder or self.account.archive_folder}/{self.archive_name}"

    @property
    def trigger_words(self) -> str:
        """Who started it and, once it succeeded, what it was: "Scheduled (incremental)", "Manual (full)"."""
        if self.status != self.Status.SUCCESS or self.trigger == self.Trigger.IMPORT:
            return self.get_trigger_display()  # an import is trakt's export, neither full nor incremental
        return f"{self.get_trigger_display()} ({'full' if self.full else 'incremental'})"

    @property
    def download_name(self) -> str:
        """The file name a download gets: this backup's own, ``backup-<user>-<its own time>.tar.gz``.

        A backup identical to an earlier one shares that one's file, whose name carries the earlier time: a
        file named after an earlier moment than this backup's start is such a shared file (names of one
        account's folder sort by time; a backup's own file is named at its start or, when that second was
        taken, a second or two later).
        """
        if not self.archive_name or self.started is None:
            return self.archive_name
        own = archive_name(self.folder or self.account.archive_folder, self.started) + SUFFIX
        return own if own > self.archive_name else self.archive_name

    # -- lifecycle (claim, is_active: RunLifecycle) -------------------------------------------

    def beat(self, *, categories_done: int, categories_total: int, pages_fetched: int) -> None:
        """Progress for the dashboard, and the heartbeat that says the run is alive."""
        self._update(categories_done=categories_done, categories_total=categories_total,
                     pages_fetched=pages_fetched, heartbeat=timezone.now())

    def mark_failed(self, kind: str, message: str, **fields) -> bool:
        """Record a failure (of a run still queued or running) with its kind and its sentence for people."""
        return self._update([self.Status.QUEUED, self.Status.RUNNING], status=self.Status.FAILED,
                            finished=timezone.now(), error=message, error_kind=kind, **fields)

    def record_verification(self, ok: bool) -> None:
        """The outcome of an integrity check: a damaged archive is never served as good."""
        self._update(verify_ok=ok, verified_at=timezone.now())

    def pin(self) -> None:
        """Keep this backup whatever retention says (a later backup lost much of its data)."""
        self._update(pinned=True)

    def mark_succeeded(self, **fields) -> bool:
        """Record success, only for a run that is still running: one recovered as stale keeps its failure."""
        now = timezone.now()
        return self._update([self.Status.RUNNING], status=self.Status.SUCCESS, finished=now, heartbeat=now,
                            error="", error_kind="", **fields)


class Restore(RunLifecycle, models.Model):
    """Putting an archive back into its trakt account: the plan, what was written, and how it ended.

    ``categories`` holds, per category (the archive file, or ``users/lists/<id>/items`` for one list's items):
    label, archive, current, missing, different, added, existing, not_found (with ``not_found_titles``),
    refused (with the ``problem`` sentence)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCESS = "success", "Restored"
        PARTIAL = "partial", "Partly restored"
        FAILED = "failed", "Failed"
        PLANNED = "planned", "Planned (dry run)"
        DECLINED = "declined", "Not confirmed"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="restores")
    archive_backup = models.ForeignKey(Backup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                       help_text="the backup restored (none: an archive file given to the command)")
    archive_name = models.CharField(max_length=300, blank=True)
    safety_backup = models.ForeignKey(Backup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                      help_text="the account as it was just before: pinned, labelled before restore")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    trigger = models.CharField(max_length=10, choices=Backup.Trigger.choices, default=Backup.Trigger.COMMAND)
    only = models.JSONField(default=list, blank=True, help_text="the categories chosen (empty: every one)")
    created = models.DateTimeField(default=timezone.now, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    claim_host = models.CharField(max_length=255, blank=True)
    claim_pid = models.PositiveIntegerField(null=True, blank=True)
    categories = models.JSONField(default=dict, blank=True)
    not_restorable = models.JSONField(default=list, blank=True, help_text="[archive file, reason] of what trakt's "
                                                                          "API cannot write back")
    dry_run = models.BooleanField(default=False, help_text="plan only: nothing is written")
    requests_made = models.PositiveIntegerField(default=0)
    writes_made = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account"], condition=models.Q(status__in=["queued", "running"]),
                                    name="one_active_restore_per_account"),
        ]

    def __str__(self) -> str:
        return f"restore of {self.account} {self.created:%Y-%m-%d %H:%M} {self.status}"

    def record(self, **fields) -> None:
        """Progress of a running restore (its categories, counters): the heartbeat too."""
        self._update([self.Status.RUNNING], heartbeat=timezone.now(), **fields)

    def finish(self, status: str, **fields) -> bool:
        return self._update([self.Status.QUEUED, self.Status.RUNNING], status=status, finished=timezone.now(),
                            **fields)

class WorkerHeartbeat(models.Model):
    """A worker's sign of life: a scheduled task updates its host's row every few minutes, so that the doctor
    can tell whether anything runs the schedules (backups, token refreshes, maintenance)."""

    host = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    seen = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-seen"]

    def __str__(self) -> str:
        return f"worker on {self.host} seen {self.seen:%Y-%m-%d %H:%M}"

    @classmethod
    def record(cls, host: str, pid: int) -> WorkerHeartbeat:
        beat, _ = cls.objects.update_or_create(host=host[:255], defaults={"pid": pid, "seen": timezone.now()})
        return beat

    @classmethod
    def latest(cls) -> WorkerHeartbeat | None:
        return cls.objects.order_by("-seen").first()


class ConnectAttempt(models.Model):
    """One start of a connect with trakt from the web (``services/connect_limits``): rows of the last hour."""

    class Kind(models.TextChoices):
        PIN = "pin", "PIN code"
        DEVICE = "device", "device code"
        REDIRECT = "redirect", "redirect"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.kind} connect at {self.at:%Y-%m-%d %H:%M:%S}"


class RunTally(models.Model):
    """How many backups and restores ended in each status, ever: the counters of ``/metrics`` (rows of runs are
    deleted by retention, so counting them would go down). Counted where a run ends (``RunLifecycle._update``)."""

    kind = models.CharField(max_length=10)  # "backup" or "restore"
    status = models.CharField(max_length=10)
    total = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "status"], name="one_tally_per_kind_and_status")]

    def __str__(self) -> str:
        return f"{self.total} {self.kind}s {self.status}"

    @classmethod
    def count(cls, kind: str, status: str) -> None:
        if not cls.objects.filter(kind=kind, status=status).update(total=models.F("total") + 1):
            try:
                with transaction.atomic():
                    cls.objects.create(kind=kind, status=status, total=1)
            except IntegrityError:  # another process created it meanwhile
                cls.objects.filter(kind=kind, status=status).update(total=models.F("total") + 1)


class ApiToken(models.Model):
    """A personal token of the REST API (``backups/api.py``): only its sha256 is kept; the token is shown once."""

    PREFIX = "tbk_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12, help_text="the token's first characters, to tell tokens apart")
    read_only = models.BooleanField(default=False, help_text="reads only: cannot start backups or restores")
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"
