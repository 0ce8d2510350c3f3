"""The REST API under ``/api/v1/`` (django-ninja): accounts, backups, their progress, downloads, exports and
restores, for scripts. Its OpenAPI 3 schema is generated at ``/api/v1/openapi.json``.

Every request carries a personal token (``Authorization: Bearer tbk_…``, ``api_auth.py``); every object is
looked up through the access helpers the pages use (``access.py``), as the token's user: another user's object is
a 404, as on the pages. A read-only token may not start anything (403). The same services as the pages and
commands run behind each endpoint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import NinjaAPI, Path, Query, Schema, Status
from ninja.security import HttpBearer

from backups.access import accounts_for_user, get_account_for_user, get_backup_for_user
from backups.api_auth import FAILURE_WINDOW, TooManyFailures, token_user
from backups.models import Account, Backup, Restore
from backups.services.backup_run import BackupAlreadyRunning, queue_backup
from backups.services.export_run import ExportError, export_backup
from backups.services.grants import ReconnectNeeded, ServiceError
from backups.services.restore_run import queue_restore
from backups.views import archive_response, served_archive_key
from backups.views_export import streamed

MAX_ID = 2**62  # ids past this cannot be a row (SQLite's integers are 64-bit)
Id = Path(..., ge=1, le=MAX_ID)


class Bearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        return token_user(request, token)


api = NinjaAPI(title="trakt-backup", version="1", description=__doc__, auth=Bearer(), docs_url=None,
               urls_namespace="api")


class Error(Schema):
    detail: str


class Progress(Schema):
    categories_done: int
    categories_total: int
    pages_fetched: int


class BackupOut(Schema):
    id: int
    account_id: int
    status: str
    trigger: str
    created: datetime
    started: datetime | None
    finished: datetime | None
    size: int | None
    total_items: int
    item_counts: dict[str, int]
    problems: str
    error: str
    verified: bool | None
    active: bool
    progress: Progress


class AccountOut(Schema):
    id: int
    username: str
    slug: str
    status: str
    backup_cron: str
    token_expires_at: datetime | None
    last_backup: BackupOut | None


class StartBackup(Schema):
    full: bool = False


class StartRestore(Schema):
    only: list[str] = []  # archive files without .json (sync/history, users/lists); empty: every category
    dry_run: bool = True  # plan only: nothing is written to trakt


class RestoreOut(Schema):
    id: int
    account_id: int
    backup_id: int | None
    status: str
    dry_run: bool
    created: datetime
    finished: datetime | None
    categories: dict[str, dict]
    error: str


def _backup(backup: Backup) -> dict:
    counts = {k: v for k, v in (backup.item_counts or {}).items() if isinstance(v, int)}
    return {"id": backup.pk, "account_id": backup.account_id, "status": backup.status, "trigger": backup.trigger,
            "created": backup.created, "started": backup.started, "finished": backup.finished, "size": backup.size,
            "total_items": backup.total_items, "item_counts": counts, "problems": backup.problems,
            "error": backup.error, "verified": backup.verify_ok, "active": backup.is_active,
            "progress": {"categories_done": backup.categories_done, "categories_total": backup.categories_total,
                         "pages_fetched": backup.pages_fetched}}


def _account(account: Account) -> dict:
    last = Backup.objects.successful().filter(account=account).order_by("-created").first()
    return {"id": account.pk, "username": account.username, "slug": account.slug, "status": account.status,
            "backup_cron": account.backup_cron, "token_expires_at": account.token_expires_at,
            "last_backup": _backup(last) if last else None}


def _restore(restore: Restore) -> dict:
    return {"id": restore.pk, "account_id": restore.account_id, "backup_id": restore.archive_backup_id,
            "status": restore.status, "dry_run": restore.dry_run, "created": restore.created,
            "finished": restore.finished, "categories": restore.categories or {}, "error": restore.error}


def _may_write(request: HttpRequest) -> None:
    if request.auth.read_only:
        raise PermissionDenied("This token is read-only: make a token that may write on the API tokens page.")


READS = {401: Error, 403: Error, 404: Error, 429: Error}
WRITES = {**READS, 409: Error, 503: Error}
ZIP = {"responses": {200: {"description": "the ZIP, streamed", "content": {
    "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}}
ARCHIVE = {"responses": {200: {"description": "the archive (tar.gz); with S3 storage, a 302 to a link that "
                                              "expires in minutes", "content": {
    "application/gzip": {"schema": {"type": "string", "format": "binary"}}}}}}


@api.get("/accounts", response={200: list[AccountOut], **READS}, summary="Your trakt accounts")
def list_accounts(request):
    return [_account(account) for account in accounts_for_user(request).order_by("pk")]


@api.get("/accounts/{account_id}", response={200: AccountOut, **READS}, summary="One account")
def one_account(request, account_id: int = Id):
    return _account(get_account_for_user(request, account_id, read=True))


@api.get("/accounts/{account_id}/backups", response={200: list[BackupOut], **READS},
         summary="An account's backups, newest first")
def list_backups(request, account_id: int = Id, limit: int = Query(50, ge=1, le=250),
                 offset: int = Query(0, ge=0, le=MAX_ID)):
    account = get_account_for_user(request, account_id, read=True)
    return [_backup(b) for b in account.backups.order_by("-created", "-pk")[offset:offset + limit]]


@api.post("/accounts/{account_id}/backups", response={202: BackupOut, **WRITES},
          summary="Start a backup (409 while one runs)")
def start_backup(request, body: StartBackup | None = None, account_id: int = Id):
    _may_write(request)
    account = get_account_for_user(request, account_id)
    try:
        backup = queue_backup(account, Backup.Trigger.MANUAL, full=bool(body and body.full))
    except (BackupAlreadyRunning, ReconnectNeeded) as exc:
        return Status(409, {"detail": str(exc)})
    except ServiceError as exc:
        return Status(503, {"detail": str(exc)})
    return Status(202, _backup(backup))


@api.get("/backups/{backup_id}", response={200: BackupOut, **READS}, summary="One backup, with its progress")
def one_backup(request, backup_id: int = Id):
    return _backup(get_backup_for_user(request, backup_id))


@api.get("/backups/{backup_id}/download", response={302: None, **READS}, openapi_extra=ARCHIVE,
         summary="A backup's archive")
def download(request, backup_id: int = Id):
    backup = get_backup_for_user(request, backup_id)
    key = served_archive_key(backup)
    if key is None:
        return Status(404, {"detail": "This backup has no archive that can be downloaded."})
    return archive_response(backup, key)


@api.get("/backups/{backup_id}/export/{format}", response=READS, openapi_extra=ZIP,
         summary="A backup's archive as CSV, Letterboxd or trakt-import files")
def export(request, format: Literal["csv", "letterboxd", "trakt-import"], backup_id: int = Id):
    backup = get_backup_for_user(request, backup_id)
    if served_archive_key(backup) is None:
        return Status(404, {"detail": "This backup has no archive that can be exported."})
    try:
        return streamed(export_backup(backup, format))
    except ExportError as exc:
        return Status(404, {"detail": str(exc)})


@api.post("/backups/{backup_id}/restores", response={202: RestoreOut, **WRITES},
          summary="Restore a backup into its trakt account (a plan only, unless dry_run is false)")
def start_restore(request, body: StartRestore, backup_id: int = Id):
    _may_write(request)
    backup = get_backup_for_user(request, backup_id, read=False)
    if backup.status != Backup.Status.SUCCESS:
        return Status(409, {"detail": "Only a successful backup can be restored."})
    try:
        restore = queue_restore(backup.account, backup, only=body.only, dry_run=body.dry_run)
    except ServiceError as exc:
        return Status(409, {"detail": str(exc)})
    return Status(202, _restore(restore))


@api.get("/restores/{restore_id}", response={200: RestoreOut, **READS}, summary="A restore's state and result")
def one_restore(request, restore_id: int = Id):
    restore = Restore.objects.filter(pk=restore_id, account__owner=request.user).first()
    if restore is None:
        return Status(404, {"detail": "No such restore."})
    return _restore(restore)


@api.exception_handler(TooManyFailures)
def too_many_failures(request, exc):
    response = api.create_response(request, {"detail": "Too many wrong tokens from this address: wait 10 minutes."},
                                   status=429)
    response["Retry-After"] = str(FAILURE_WINDOW)
    return response


@api.exception_handler(PermissionDenied)
def forbidden(request, exc):
    return api.create_response(request, {"detail": str(exc) or "Forbidden."}, status=403)


