"""The doctor: what usually breaks in an installation, checked and told in plain sentences.

One service, two doors: ``manage.py doctor`` and the staff page both call ``run_checks()``, which returns one
``Result`` (ok / warn / fail, and a sentence for people) per thing checked. The checks read the installation
(its folders, the database, the workers' heartbeat, the stored grants) and ask trakt a few questions, each one
request with a short timeout and no retry: the API's clock (its Date header), whether a request without a
User-Agent is still refused, and one page of an account's history (its pagination headers and page size); the
OAuth host is asked whether it knows the app (a device code, left to expire). Nothing is written to trakt or
to an account, no token is refreshed, and no sentence holds a token or a secret.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from backups import codec, storage
from backups.crypto import DecryptionError
from backups.logging import redact
from backups.models import Account, AppCredentials, AuthEvent, Backup, WorkerHeartbeat
from backups.services.grants import LIFETIME_SHARE, refresh_margin, use_margin
from backups.services.schedules import HEARTBEAT_MINUTES, REFRESH_CHECK_MINUTES
from backups.trakt_client import PAGE_LIMIT, TraktClient, TraktError

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "fail"
CHECK_TIMEOUT = 10  # seconds for each request to trakt (never more than TRAKT_TIMEOUT)
MIN_FREE_BYTES = 1 << 30  # a folder's disk with less free than this is worth a warning (`doctor --min-free-mb`)
# A clock this far off trakt's is worth a warning; past the second figure, S3 refuses request signatures.
CLOCK_WARN_SECONDS, CLOCK_FAIL_SECONDS = 60, 15 * 60
# Three missed check-ins: the worker is gone, not merely late.
HEARTBEAT_STALE = timedelta(minutes=3 * HEARTBEAT_MINUTES)
ASKED_LIMIT = 1000  # a page size larger than trakt's cap: the answer says what the cap is
PAGINATION_HEADERS = ("X-Pagination-Page", "X-Pagination-Limit", "X-Pagination-Page-Count", "X-Pagination-Item-Count")
EXPECTED_LIFETIMES = (24 * 3600, 7 * 24 * 3600)  # what trakt has issued since 2025, and what the app is built for
EXPECTED_IN_WORDS = "24 hours or 7 days"
# Shorter than this, a token can lapse between two hourly refresh checks (each renews a token in the last
# quarter of its life).
SHORTEST_KEPT_FRESH = REFRESH_CHECK_MINUTES * 60 * LIFETIME_SHARE
KEY_MISMATCH = ("The stored tokens and client secret cannot be decrypted: the encryption key is not the one they "
                "were saved with. Put back DATA_DIR/encryption.key (or ENCRYPTION_KEY) from your backup of the "
                "installation; without it, enter the app's credentials again and connect every account again.")
START_WORKER = ("start `python manage.py qcluster` (or the worker container); until one runs, no scheduled backup, "
                "token refresh or maintenance happens.")


@dataclass(frozen=True)
class Result:
    """One finding: ``check`` names it for programs (``clock``, ``account:3``), ``title`` for people."""

    check: str
    title: str
    status: str
    sentence: str


def run_checks(*, min_free: int = MIN_FREE_BYTES) -> list[Result]:
    """Every check, in the order one fixes things: the machine, the database, the worker, then trakt."""
    checks: list[tuple[str, str, Callable[[], list[Result]]]] = [
        ("database", "Database", _database),
        ("folders", "Data folder", lambda: _folders(min_free)),
        ("worker", "Worker", _worker),
        ("app", "trakt app", _app_credentials),
        ("accounts", "Accounts", _accounts),
        ("trakt_api", "trakt's API", _trakt_api),
        ("token_lifetime", "Token lifetime", _token_lifetime),
    ]
    results: list[Result] = []
    for check, title, run in checks:
        results.extend(_guarded(check, title, run))
    return results


def summary(results: list[Result]) -> str:
    """One line: "All clear: …", or how many checks failed or want a look, and the first of them."""
    failed = [r for r in results if r.status == FAIL]
    warned = [r for r in results if r.status == WARN]
    if not failed and not warned:
        return f"All clear: {len(results)} checks passed."
    counts = [f"{len(failed)} failed" if failed else "", f"{len(warned)} to look at" if warned else ""]
    first = (failed or warned)[0]
    return f"{', '.join(c for c in counts if c)} (of {len(results)} checks). {first.title}: {first.sentence}"


def exit_code(results: list[Result]) -> int:
    """0 all clear, 1 when a check failed, 2 when checks only warn."""
    statuses = {r.status for r in results}
    return 1 if FAIL in statuses else 2 if WARN in statuses else 0


def record_heartbeat() -> str:
    """A worker's check-in (a scheduled task): its host's row says it was alive just now."""
    beat = WorkerHeartbeat.record(socket.gethostname(), os.getpid())
    WorkerHeartbeat.objects.filter(seen__lt=timezone.now() - timedelta(days=7)).delete()  # hosts gone for good
    return f"checked in from {beat.host}"


def _guarded(check: str, title: str, run: Callable[[], list[Result]]) -> list[Result]:
    """The check's results; a check that cannot run says why, and never stops the others."""
    try:
        return run()
    except DecryptionError:
        return [Result(check, title, FAIL, KEY_MISMATCH)]
    except DatabaseError as exc:
        log.warning("doctor: the %s check met a database error: %s", check, exc)
        return [Result(check, title, FAIL, f"Not checked: the database did not answer ({type(exc).__name__}).")]
    except Exception:  # noqa: BLE001 - one broken check must not hide the others
        log.exception("doctor: the %s check failed", check)
        return [Result(check, title, FAIL, "This check failed unexpectedly; the log has the details.")]


# -- the machine: database and folders -------------------------------------------------------------------


def _database() -> list[Result]:
    where = _database_name()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        log.warning("doctor: database %s: %s", where, exc)
        return [Result("database", "Database", FAIL,
                       f"The database ({where}) does not answer ({_first_line(exc)}): check DATABASE_URL (or "
                       "SQLITE_PATH) and that the database server is running.")]
    if pending:
        return [Result("database", "Database", FAIL,
                       f"The database ({where}) answers, but {len(pending)} of its migrations are not applied: "
                       "run `python manage.py migrate` (the container and `manage.py serve` run them at start).")]
    return [Result("database", "Database", OK, f"The database ({where}) answers and its migrations are applied.")]


def _database_name() -> str:
    """Where the database is, without its user or password."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"SQLite, {db['NAME']}"
    host = f" on {db.get('HOST') or 'localhost'}:{db.get('PORT') or 'default port'}"
    return f"{connection.display_name} {db['NAME']}{host}"


def _folders(min_free: int) -> list[Result]:
    data, archives = Path(settings.DATA_DIR), Path(settings.ARCHIVE_DIR)
    results = [_folder("data_folder", "Data folder", "DATA_DIR", data, min_free)]
    if archives.absolute() != data.absolute():
        results.append(_folder("archive_folder", "Archive folder", "ARCHIVE_DIR", archives, min_free))
    if not storage.is_local():
        results.append(_bucket())
    return results


def _folder(check: str, title: str, variable: str, path: Path, min_free: int) -> Result:
    """Writable (a temporary file comes and goes), with room to spare."""
    target = path if path.exists() else _nearest_existing(path)
    named = f"The {title.lower()} {path} ({variable})"
    later = "" if target == path else f" (the first backup makes it, in {target})"
    if not target.is_dir():
        return Result(check, title, FAIL, f"{named} is not a folder: point {variable} at one.")
    try:
        with tempfile.NamedTemporaryFile(dir=target, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Result(check, title, FAIL,
                      f"{named} cannot be written ({exc.strerror or type(exc).__name__}){later}: let the user the "
                      f"app runs as (uid {os.getuid()}) write to it.")
    usage = shutil.disk_usage(target)
    if usage.free < min_free:
        return Result(check, title, WARN,
                      f"{named} has only {_size(usage.free)} free of {_size(usage.total)}{later}: free some space "
                      "or give it a bigger disk before backups run out of room.")
    return Result(check, title, OK, f"{named} can be written and has {_size(usage.free)} free{later}.")


def _nearest_existing(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")


def _bucket() -> Result:
    """The archives' bucket answers (a HEAD of the bucket: nothing is read or written)."""
    backend = storage.storage()
    where = f"s3://{backend.bucket_name}/{(backend.location or '').strip('/')}"
    try:
        backend.connection.meta.client.head_bucket(Bucket=backend.bucket_name)
    except Exception as exc:  # noqa: BLE001 - botocore's errors, a missing bucket, a refused key, no network
        log.warning("doctor: bucket %s: %s", where, exc)
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")  # "404", "403", ...
        return Result("archive_storage", "Archive storage", FAIL,
                      f"The archive bucket {where} does not answer ({type(exc).__name__}{' ' + code if code else ''}): "
                      "check S3_BUCKET, S3_ENDPOINT_URL and the access keys, and that the bucket exists.")
    return Result("archive_storage", "Archive storage", OK, f"The archive bucket {where} answers.")


# -- the worker ----------------------------------------------------------------------------------------------


def _worker() -> list[Result]:
    now = timezone.now()
    beat = WorkerHeartbeat.latest()
    if beat is not None and now - beat.seen <= HEARTBEAT_STALE:
        ago = "moments ago" if now - beat.seen < timedelta(minutes=1) else f"{_duration(now - beat.seen)} ago"
        return [Result("worker", "Worker", OK, f"A worker checked in {ago} (on {beat.host}).")]
    busy = _busy_worker_backup(now)
    if busy is not None:
        return [Result("worker", "Worker", OK,
                       f"The worker is busy: the backup of {busy.account.username} is running (its last sign of "
                       f"life {_duration(now - busy.heartbeat)} ago), which holds up the worker's check-in.")]
    if beat is None:
        return [Result("worker", "Worker", FAIL, f"No worker has checked in yet: {START_WORKER} A worker checks "
                                                 "in as soon as it starts.")]
    minutes = int((now - beat.seen).total_seconds() // 60)
    return [Result("worker", "Worker", FAIL, f"No worker has checked in for {minutes} minutes: {START_WORKER}")]


def _busy_worker_backup(now: datetime) -> Backup | None:
    """A backup a worker runs (not a command's) that is alive: every worker may be busy with one."""
    alive = now - timedelta(seconds=settings.BACKUP_HEARTBEAT_TIMEOUT)
    return (Backup.objects.filter(status=Backup.Status.RUNNING, heartbeat__gte=alive)
            .exclude(trigger=Backup.Trigger.COMMAND).select_related("account").order_by("-heartbeat").first())


# -- the app and its accounts ----------------------------------------------------------------------------


def _client(client_id: str = "") -> TraktClient:
    return TraktClient(client_id, timeout=min(settings.TRAKT_TIMEOUT, CHECK_TIMEOUT), max_retries=0)


def _app_credentials() -> list[Result]:
    creds = AppCredentials.current()  # the secret is decrypted here: a wrong key raises DecryptionError
    if creds is None or not creds.client_id:
        return [Result("app", "trakt app", FAIL, "The trakt API app is not set up yet: open App setup in the "
                                                 "dashboard or run `python manage.py trakt_setup`.")]
    named = f"the app's Client ID ({creds.client_id[:8]}…)"
    try:
        known = _client(creds.client_id).app_is_known()
    except TraktError as exc:
        return [Result("app", "trakt app", FAIL, f"trakt's OAuth host ({settings.TRAKT_AUTH_URL}) could not be "
                                                 f"asked about the app: {exc}")]
    if not known:
        return [Result("app", "trakt app", FAIL,
                       f"trakt does not know {named}: copy the Client ID from your app's page at trakt into App "
                       "setup (or run `python manage.py trakt_setup`); if the app was deleted at trakt, make a new "
                       "one.")]
    return [Result("app", "trakt app", OK, f"trakt knows {named}; its secret is proven at every sign-in and "
                                           "token refresh.")]


def _accounts() -> list[Result]:
    accounts = list(Account.objects.exclude(status__in=[Account.Status.DISCONNECTED, Account.Status.IMPORTED]))
    if not accounts:
        return [Result("accounts", "Accounts", WARN,
                       "No trakt account is connected yet: connect one in the dashboard (Connect an account) or "
                       "run `python manage.py trakt_auth -u USER --device`.")]
    now = timezone.now()
    return [_token_state(account, _last_grant_event(account), now) for account in accounts]


def _last_grant_event(account: Account) -> AuthEvent | None:
    """The latest connect or refresh: a failed refresh counts until a later one (or a new connection) works."""
    kinds = [AuthEvent.Kind.REFRESH, AuthEvent.Kind.EXCHANGE, AuthEvent.Kind.DEVICE]
    return account.auth_events.filter(kind__in=kinds).first()


def _token_state(account: Account, event: AuthEvent | None, now: datetime) -> Result:
    """The account's grant in words: must reconnect, refresh failing, expired, expiring, or fine."""
    name = account.username
    check, title = f"account:{account.pk}", f"Account {name}"
    if account.status == Account.Status.NEEDS_RECONNECT:
        detail = _plain(account.status_detail) or "trakt no longer accepts its grant."
        return Result(check, title, FAIL, f"{name} must be connected again: {detail} Reconnect it in the dashboard "
                                          f"or run `python manage.py trakt_auth -u {name} --device`.")
    if not account.token_expires_at:
        return Result(check, title, WARN, f"{name} holds no access token: one is fetched before its next backup.")
    left = account.token_expires_at - now
    failing = event is not None and event.kind == AuthEvent.Kind.REFRESH and not event.ok
    detail = _plain(event.detail) if failing else ""
    if failing and left <= timedelta(0):
        return Result(check, title, FAIL,
                      f"{name}'s token expired {_duration(-left)} ago and its last refresh failed ({detail}): its "
                      "backups fail until a refresh works. If this stays, connect the account again.")
    if failing:
        return Result(check, title, WARN, f"The last refresh of {name}'s token failed ({detail}); the token is still "
                                          f"valid for {_duration(left)}, and the hourly check tries again.")
    if left <= timedelta(0):
        return Result(check, title, WARN,
                      f"{name}'s token expired {_duration(-left)} ago: it is renewed before the next backup, but the "
                      "hourly refresh check should have renewed it already. Is the worker running?")
    if left < refresh_margin(account):
        return Result(check, title, OK, f"{name}'s token expires in {_duration(left)}; the hourly refresh check "
                                        "renews it before then.")
    return Result(check, title, OK, f"{name} is connected; its token is valid for {_duration(left)} more.")


def _token_lifetime() -> list[Result]:
    """The lifetime trakt gave the newest token (stored at each connect and refresh) against the app's design."""
    issued = list(Account.objects.filter(status=Account.Status.CONNECTED, token_lifetime__isnull=False,
                                         token_expires_at__isnull=False)
                  .only("username", "token_lifetime", "token_expires_at"))
    if not issued:
        return []
    newest = max(issued, key=lambda a: a.token_expires_at - timedelta(seconds=a.token_lifetime))
    lifetime = newest.token_lifetime
    issued_for = f"{newest.username}'s newest token was issued for {_duration(timedelta(seconds=lifetime))}"
    if lifetime in EXPECTED_LIFETIMES:
        return [Result("token_lifetime", "Token lifetime", OK,
                       f"{issued_for}, as the app expects ({EXPECTED_IN_WORDS}).")]
    if lifetime < SHORTEST_KEPT_FRESH:
        return [Result("token_lifetime", "Token lifetime", WARN,
                       f"trakt changed: {issued_for}, where the app expects {EXPECTED_IN_WORDS}. The hourly refresh "
                       "check cannot keep so short a token fresh: it lapses between checks, and each backup "
                       "renews it first.")]
    return [Result("token_lifetime", "Token lifetime", WARN,
                   f"trakt changed: {issued_for}, where the app expects {EXPECTED_IN_WORDS}. Refreshes follow "
                   "trakt's answer, so nothing needs doing.")]


# -- trakt's API: clock, User-Agent rule, pagination, page size ------------------------------------------


def _trakt_api() -> list[Result]:
    # The Client ID alone (the secret is not needed, nor decrypted): a key mismatch must not hide these checks.
    client = _client(AppCredentials.objects.order_by("-id").values_list("client_id", flat=True).first() or "")
    try:
        clock = _clock(client)
    except TraktError as exc:  # one timeout is enough: the other questions are not asked
        return [Result("trakt_api", "trakt's API", FAIL,
                       f"trakt's API at {client.api_url} could not be reached: {exc} Its clock and behaviour were "
                       "not checked. Check this machine's network and DNS, or trakt's status.")]
    results = [clock]
    for check, title, ask in (("user_agent", "User-Agent rule", _user_agent_rule),
                              ("pagination", "Pagination", _pagination)):
        try:
            results.extend(ask(client))
        except TraktError as exc:
            results.append(Result(check, title, FAIL, f"Not checked: trakt did not answer the question ({exc})"))
    return results


def _clock(client: TraktClient) -> Result:
    """This machine's clock against trakt's Date header (token expiry and OAuth codes depend on it)."""
    sent = time.time()
    response = client.probe("/")
    received = time.time()
    try:
        theirs = parsedate_to_datetime(response.headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return Result("clock", "Clock", WARN, "trakt changed: its answers carry no readable Date header, so this "
                                              "machine's clock could not be compared with trakt's.")
    skew = (sent + received) / 2 - theirs
    if abs(skew) <= CLOCK_WARN_SECONDS:
        return Result("clock", "Clock", OK, "This machine's clock agrees with trakt's (less than a minute apart).")
    side = "ahead of" if skew > 0 else "behind"
    return Result("clock", "Clock", FAIL if abs(skew) > CLOCK_FAIL_SECONDS else WARN,
                  f"This machine's clock is {_duration(timedelta(seconds=abs(skew)))} {side} trakt's: token expiry "
                  "and sign-ins depend on it (and S3 refuses requests 15 minutes off). Set the clock right: turn "
                  "on time sync (`timedatectl set-ntp true`, or the host's, for a container).")


def _user_agent_rule(client: TraktClient) -> list[Result]:
    """A request without a User-Agent, with no token: trakt's Cloudflare answers it with a 403 page."""
    response = client.probe("/users/settings", user_agent=False)
    page = "html" in response.headers.get("Content-Type", "")
    if response.status_code == 403 and page:
        return [Result("user_agent", "User-Agent rule", OK, "trakt still refuses a request without a User-Agent "
                                                            "(Cloudflare's 403 page); the app always sends one.")]
    answer = f"{response.status_code}{' (a web page)' if page else ''}"
    return [Result("user_agent", "User-Agent rule", WARN,
                   f"trakt changed: a request without a User-Agent got {answer} instead of Cloudflare's 403 page. "
                   "The app sends one anyway, so backups are not affected.")]


def _token_holder() -> Account | None:
    """A connected account whose token may be sent as it is (the doctor never refreshes one)."""
    for account in Account.objects.filter(status=Account.Status.CONNECTED):
        if account.is_connected and account.token_valid(use_margin(account)):
            return account
    return None


def _pagination(client: TraktClient) -> list[Result]:
    """One page of an account's history, asked larger than trakt's cap: its headers and its page size."""
    try:
        holder = _token_holder()
    except DecryptionError:
        holder = None  # the accounts' line says why
    if holder is None:
        return [Result("pagination", "Pagination", WARN, "trakt's pagination and page size were not checked: no "
                                                         "connected account has a valid token.")]
    response = client.probe("/sync/history", params={"page": 1, "limit": ASKED_LIMIT}, token=holder.access_token)
    if response.status_code != 200:
        refused = " (it refused the token: see the account's line)" if response.status_code == 401 else ""
        return [Result("pagination", "Pagination", FAIL, f"trakt answered {response.status_code} to a read of "
                                                         f"{holder.username}'s history{refused}, so its pagination "
                                                         "was not checked.")]
    try:
        items = codec.loads(response.content)
    except (ValueError, RecursionError):
        items = None
    if not isinstance(items, list):
        return [Result("pagination", "Pagination", FAIL, "trakt changed: a page of the history is no longer a "
                                                         "JSON list, so backups refuse every page.")]
    return [_pagination_headers(response), _page_size(response)]


def _pagination_headers(response) -> Result:
    missing = [name for name in PAGINATION_HEADERS if _int_header(response, name) is None]
    if not missing:
        return Result("pagination", "Pagination", OK, "trakt still sends the four X-Pagination headers that "
                                                      "backups walk the pages by.")
    if "X-Pagination-Page-Count" in missing:
        effect = "backups would stop after the first page of every category, and miss the rest"
    elif "X-Pagination-Item-Count" in missing:
        effect = "archives lose trakt's item counts, and each incremental backup fetches the whole history again"
    else:
        effect = "backups do not use them, so nothing breaks"
    return Result("pagination", "Pagination", FAIL if "X-Pagination-Page-Count" in missing else WARN,
                  f"trakt changed: a page of the history came without {', '.join(missing)}: {effect}.")


def _page_size(response) -> Result:
    limit = _int_header(response, "X-Pagination-Limit")
    if limit is None:
        return Result("page_limit", "Page size", WARN, "The page size was not checked: trakt sent no "
                                                       "X-Pagination-Limit.")
    if limit == PAGE_LIMIT:
        return Result("page_limit", "Page size", OK, f"trakt still clamps a page at {PAGE_LIMIT} items (asked for "
                                                     f"{ASKED_LIMIT}), as the app expects.")
    if limit < PAGE_LIMIT:
        return Result("page_limit", "Page size", WARN,
                      f"trakt changed: a page now holds at most {limit} items, where the app asks for {PAGE_LIMIT}. "
                      f"Backups still walk every page, with {PAGE_LIMIT / limit:.1f} times the requests.")
    more = " or more" if limit >= ASKED_LIMIT else ""
    return Result("page_limit", "Page size", WARN,
                  f"trakt changed: a page may now hold {limit}{more} items, where the app asks for {PAGE_LIMIT}. "
                  "Backups are complete; a larger PAGE_LIMIT (backups/trakt_client.py) would need fewer requests.")


# -- words ---------------------------------------------------------------------------------------------------


def _int_header(response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, TypeError, ValueError):
        return None


def _duration(span: timedelta) -> str:
    """"45 seconds", "12 minutes", "5 hours", "7 days": the largest unit that fits at least twice."""
    seconds = abs(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size:
            return f"{round(seconds / size)} {unit}s"
    whole = round(seconds)
    return f"{whole} second{'' if whole == 1 else 's'}"


def _size(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"


def _plain(text: str, limit: int = 300) -> str:
    """A stored message on one line, shortened, with anything that looks like a secret blanked."""
    return redact(" ".join((text or "").split()))[:limit]


def _first_line(exc: Exception) -> str:
    return _plain(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 200)
