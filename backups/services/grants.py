"""App credentials and OAuth grants: connecting, refreshing and revoking accounts.

The command line, the web views and the scheduled tasks all come through here.

Refresh tokens are single-use and rotate: spending one twice kills the grant. So a
refresh runs under a lease on the account's row (``refresh_lease_owner`` /
``refresh_lease_until``): a short conditional UPDATE claims it, the request to
trakt runs with no transaction open (on SQLite no write lock is held while trakt
thinks), and a short write stores the new pair and ends the lease, only if this
refresh still holds it. Whoever finds the lease held waits for it to end and then
reads the pair the holder stored, or claims it once it has expired.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from backups.models import Account, AppCredentials, AuthEvent
from backups.trakt_client import (ClientRejected, GrantRejected, TraktClient, TraktError, Unavailable, limiter_for,
                                  write_limiter_for)
from backups.untrusted import trakt_link

log = logging.getLogger(__name__)

# Refresh when the token has less than this left, or less than a quarter of its lifetime if that is shorter
# (``refresh_margin``): a quarter of a 24-hour token, a small part of a 7-day one; a 60-second token every 45 s.
REFRESH_MARGIN = timedelta(hours=6)
# Just before an API call (``use_margin``), likewise capped at a quarter of the token's lifetime: enough for a
# backup's next requests to go through, without refreshing a short-lived token before every request.
USE_MARGIN = timedelta(minutes=5)
LIFETIME_SHARE = 4

# The refresh request itself: a short timeout, few retries and capped waits, so that its lease can be short.
REFRESH_TIMEOUT = 10
REFRESH_RETRIES = 2
REFRESH_MAX_WAIT = 5
# A writer on SQLite waits up to this long for the database (settings: busy_timeout) before the final write lands.
DATABASE_WAIT = 60
# Whoever waits for another's lease looks again after this long, doubling up to the second figure.
LEASE_POLL_FIRST, LEASE_POLL_LONGEST = 0.05, 0.5


class ServiceError(Exception):
    """A failure with a sentence for the user in ``str()``."""


class NotConfigured(ServiceError):
    pass


class ReconnectNeeded(ServiceError):
    pass


class WrongAccount(ServiceError):
    pass


class TraktUnreachable(ServiceError):
    """trakt could not be reached for now; the same step may be tried again."""


# -- app credentials ---------------------------------------------------------------


def _credentials_shape(client_id: str, client_secret: str) -> tuple[str, str]:
    client_id, client_secret = client_id.strip(), client_secret.strip()
    if not client_id or not client_secret:
        raise ServiceError("Both the Client ID and the Client Secret are needed.")
    if (len(client_id) > 200 or len(client_secret) > 500
            or not all(v.isascii() and v.isprintable() and " " not in v for v in (client_id, client_secret))):
        raise ServiceError("That does not look like a trakt Client ID and Client Secret.")
    return client_id, client_secret


def save_app_credentials(client_id: str, client_secret: str) -> AppCredentials:
    """Store the credentials as given (``set_up_app`` checks them with trakt first)."""
    client_id, client_secret = _credentials_shape(client_id, client_secret)
    with transaction.atomic():
        creds = AppCredentials.current() or AppCredentials()
        creds.client_id, creds.client_secret = client_id, client_secret
        creds.save()
    return creds


# A check at save time must not hold the page for long: one retry, a short timeout.
CHECK_TIMEOUT = 10
SECRET_UNPROVEN = ("trakt knows this Client ID. A Client Secret can only be proven by a real sign-in, "
                   "so it is checked when you connect an account.")
SECRET_REFUSED = ("trakt refused the app's Client Secret (invalid_client): paste the secret again from your app's "
                  "page at trakt in App setup (or run `manage.py trakt_setup`); if the app was deleted at trakt, "
                  "create a new one.")


@dataclass
class AppSetup:
    """Saved credentials, with one sentence for the user: what was proven, or why nothing could be."""

    credentials: AppCredentials
    note: str
    checked: bool


def _app_known(client_id: str) -> bool:
    return TraktClient(client_id, timeout=CHECK_TIMEOUT, max_retries=1).app_is_known()


def _refused_credentials(client_id: str, client_secret: str) -> ServiceError:
    """Which of the two looks wrong, for a Client ID trakt does not know."""
    try:
        swapped = client_secret != client_id and _app_known(client_secret)
    except TraktError:
        swapped = False
    if swapped:
        return ServiceError("The Client ID and the Client Secret look swapped: trakt knows the value given as the "
                            "secret as a Client ID. Paste each into its own field.")
    return ServiceError("trakt does not know this Client ID (it answered 403): copy the Client ID from your app's "
                        "page at trakt, whole and not the secret. Nothing was saved.")


def set_up_app(client_id: str, client_secret: str) -> AppSetup:
    """Check the Client ID with trakt, then save: refused when trakt does not know it, saved with a
    warning when trakt cannot be asked (the check happens again at the first connect)."""
    client_id, client_secret = _credentials_shape(client_id, client_secret)
    try:
        known = _app_known(client_id)
    except TraktError as exc:
        log.warning("could not check the Client ID with trakt: %s", exc)
        note = ("The Client ID was not checked: trakt could not be reached (details in the log). "
                "It is checked when you connect an account.")
        return AppSetup(save_app_credentials(client_id, client_secret), note, checked=False)
    if not known:
        raise _refused_credentials(client_id, client_secret)
    return AppSetup(save_app_credentials(client_id, client_secret), SECRET_UNPROVEN, checked=True)


def app_credentials() -> AppCredentials:
    creds = AppCredentials.current()
    if creds is None or not creds.client_id:
        raise NotConfigured(
            "The trakt API app is not set up yet: run `python manage.py trakt_setup` or open App setup in the dashboard."
        )
    return creds


def app_client(creds: AppCredentials | None = None) -> TraktClient:
    creds = creds or app_credentials()
    return TraktClient(creds.client_id, creds.client_secret)


def account_client(account: Account, creds: AppCredentials | None = None, *,
                   in_flight: int | None = None) -> TraktClient:
    """A client of the account's data; ``in_flight`` bounds its requests on the wire at once (a backup's pool)."""
    creds = creds or app_credentials()
    return TraktClient(
        creds.client_id,
        creds.client_secret,
        tokens=AccountTokens(account),
        limiter=limiter_for(f"account-{account.pk}"),
        write_limiter=write_limiter_for(f"account-{account.pk}"),
        in_flight=in_flight,
    )


# -- token source used by the client during API calls ---------------------------------


def _capped_by_lifetime(account: Account, cap: timedelta) -> timedelta:
    """``cap``, or a quarter of the token's lifetime when that is shorter (a token trakt issued for 60 s)."""
    if not account.token_lifetime:
        return cap
    return min(cap, timedelta(seconds=account.token_lifetime / LIFETIME_SHARE))


def refresh_margin(account: Account) -> timedelta:
    """How close to its expiry a token is refreshed ahead of time (the hourly check, ``refresh_grant``)."""
    return _capped_by_lifetime(account, REFRESH_MARGIN)


def use_margin(account: Account) -> timedelta:
    """How much life a token must have left to be sent with an API request."""
    return _capped_by_lifetime(account, USE_MARGIN)


class AccountTokens:
    """Hands the client a valid access token, refreshing the grant when needed."""

    def __init__(self, account: Account):
        self.account = account

    def access_token(self) -> str:
        margin = use_margin(self.account)
        if not self.account.token_valid(margin):
            refresh_grant(self.account, margin=margin)
        return self.account.access_token

    def refreshed_access_token(self, rejected: str) -> str:
        refresh_grant(self.account, stale_access_token=rejected)
        return self.account.access_token


def log_event(account: Account, kind: str, ok: bool, detail: str) -> AuthEvent:
    return AuthEvent.objects.create(account=account, kind=kind, ok=ok, detail=detail[:2000])


GRANT_FIELDS = ["access_token", "refresh_token", "token_expires_at", "token_lifetime", "scope", "status",
                "status_detail"]
LEASE_FIELDS = ["refresh_lease_owner", "refresh_lease_until"]


def _store_tokens(account: Account, token: dict) -> None:
    """Put a new pair on the account; a refresh of the previous pair still under way loses its lease."""
    lifetime = int(float(token.get("expires_in") or 0))
    account.access_token = token["access_token"]
    account.refresh_token = token["refresh_token"]
    account.token_expires_at = timezone.now() + timedelta(seconds=lifetime)
    account.token_lifetime = lifetime or None
    account.scope = str(token.get("scope") or "")[:200]
    account.status = Account.Status.CONNECTED
    account.status_detail = ""
    _end_lease(account)


def _copy_grant(source: Account, target: Account) -> None:
    for name in GRANT_FIELDS:
        setattr(target, name, getattr(source, name))


# -- refreshing, under a lease ------------------------------------------------------------------


def lease_length() -> timedelta:
    """How long a claimed refresh may take before another process may take it over.

    Longer than the refresh can last from claim to final write: every attempt of the request running to its
    timeout, the waits between attempts, and the final write waiting for SQLite's write lock; doubled,
    because a timeout bounds each read from the socket rather than the whole answer. Expiring earlier would
    let a second process spend the same refresh token, which kills the grant.
    """
    attempts = REFRESH_RETRIES + 1
    request = attempts * REFRESH_TIMEOUT + REFRESH_RETRIES * max(REFRESH_MAX_WAIT, settings.TRAKT_BACKOFF * 2)
    return timedelta(seconds=2 * request + DATABASE_WAIT)


def _refresh_client(creds: AppCredentials) -> TraktClient:
    return TraktClient(creds.client_id, creds.client_secret, timeout=min(settings.TRAKT_TIMEOUT, REFRESH_TIMEOUT),
                       max_retries=min(settings.TRAKT_MAX_RETRIES, REFRESH_RETRIES), max_wait=REFRESH_MAX_WAIT)


def _new_lease_owner() -> str:
    """Names the claimant (host and process, for whoever reads the row) and is unique to this one refresh."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(8)}"[:64]


def _claim_lease(account: Account, owner: str) -> bool:
    """One conditional UPDATE: the lease is ours if nobody holds it, or its holder's time is up."""
    now = timezone.now()
    free = models.Q(refresh_lease_until__isnull=True) | models.Q(refresh_lease_until__lt=now)
    claimed = Account.objects.filter(free, pk=account.pk).update(refresh_lease_owner=owner,
                                                                 refresh_lease_until=now + lease_length())
    return claimed == 1


def _release_lease(account: Account, owner: str) -> None:
    Account.objects.filter(pk=account.pk, refresh_lease_owner=owner).update(refresh_lease_owner="",
                                                                            refresh_lease_until=None)


def _end_lease(account: Account) -> None:
    account.refresh_lease_owner = ""
    account.refresh_lease_until = None


def _write_under_lease(account: Account, owner: str, change: Callable[[Account], None]) -> bool:
    """Apply ``change`` to the account's row and end the lease, if this refresh still holds it (a short write)."""
    with transaction.atomic():
        row = Account.objects.select_for_update().get(pk=account.pk)
        held = row.refresh_lease_owner == owner
        if held:
            change(row)
            _end_lease(row)
            row.save(update_fields=GRANT_FIELDS + LEASE_FIELDS)
    _copy_grant(row, account)
    return held


def _reconnect_needed(account: Account) -> ReconnectNeeded:
    return ReconnectNeeded(
        f"The trakt account {account.username} must be connected again: "
        f"run `python manage.py trakt_auth -u {account.username} --device` or reconnect it in the dashboard."
    )


def _claim_when_needed(account: Account, owner: str, needed: Callable[[Account], bool]) -> Account | None:
    """The account's row under this refresh's lease, or None when no refresh is needed (any more).

    While another process holds the lease, wait (short sleeps) until it ends, and usually find the new pair;
    a lease whose holder died is claimed once it has expired, so the wait is bounded by the lease's length.
    """
    pause = LEASE_POLL_FIRST
    give_up = time.monotonic() + lease_length().total_seconds() + 5
    while True:
        current = Account.objects.get(pk=account.pk)
        if current.status != Account.Status.CONNECTED or not current.refresh_token:
            _copy_grant(current, account)
            raise _reconnect_needed(account)
        if not needed(current):
            _copy_grant(current, account)
            return None
        if _claim_lease(account, owner):
            claimed = Account.objects.get(pk=account.pk)  # as the previous holder left it
            if claimed.is_connected and needed(claimed):
                return claimed
            _release_lease(account, owner)
            continue
        if time.monotonic() > give_up:
            raise ServiceError(f"Another refresh of {account.username}'s token is taking too long; try again.")
        time.sleep(pause)
        pause = min(2 * pause, LEASE_POLL_LONGEST)


def refresh_grant(account: Account, *, margin: timedelta | None = None, stale_access_token: str | None = None,
                  force: bool = False) -> bool:
    """Refresh the account's grant if it needs it. Returns True when this call refreshed it.

    Needs it: ``force``; or the token is within ``margin`` (default: ``refresh_margin``) of expiry; or the
    caller holds ``stale_access_token`` (trakt rejected it, or the user asked for a refresh) and nobody has
    replaced it meanwhile. At most one refresh of a grant runs at a time (the lease), and none holds a
    database transaction open while it waits for trakt.
    """
    def needed(current: Account) -> bool:
        if stale_access_token is not None:
            return current.access_token == stale_access_token
        return force or not current.token_valid(margin if margin is not None else refresh_margin(current))

    creds = app_credentials()
    owner = _new_lease_owner()
    claimed = _claim_when_needed(account, owner, needed)
    if claimed is None:
        return False
    try:
        token = _refresh_client(creds).refresh(claimed.refresh_token, settings.TRAKT_OOB_REDIRECT_URI)
    except GrantRejected as exc:
        _refresh_rejected(account, owner, exc)
    except TraktError as exc:
        _release_lease(account, owner)
        log_event(account, AuthEvent.Kind.REFRESH, False, str(exc))
        raise ServiceError(f"The token of {account.username} could not be refreshed: {exc}") from exc
    except BaseException:
        _release_lease(account, owner)
        raise
    if not _write_under_lease(account, owner, lambda row: _store_tokens(row, token)):
        _refresh_outlived_lease(account, creds, token)
    log_event(account, AuthEvent.Kind.REFRESH, True,
              f"Token refreshed; valid until {account.token_expires_at:%Y-%m-%d %H:%M} UTC.")
    return True


def _refresh_rejected(account: Account, owner: str, exc: GrantRejected) -> None:
    """trakt refused the refresh token: the account must be connected again; say so everywhere."""
    def mark_needs_reconnect(row: Account) -> None:
        row.status = Account.Status.NEEDS_RECONNECT
        row.status_detail = "trakt rejected the saved grant during a refresh; connect the account again."

    log_event(account, AuthEvent.Kind.REFRESH, False, str(exc))
    if not _write_under_lease(account, owner, mark_needs_reconnect):  # reconnected meanwhile: that grant stands
        raise ServiceError(f"The grant of {account.username} changed while its token was being refreshed.") from exc
    log.warning("refresh of %s rejected: %s", account.username, exc)
    from backups.services import notify

    notify.account_needs_reconnect(account)
    raise ReconnectNeeded(
        f"trakt rejected the saved grant of {account.username}: connect it again with "
        f"`python manage.py trakt_auth -u {account.username} --device` or from the dashboard."
    ) from exc


def _refresh_outlived_lease(account: Account, creds: AppCredentials, token: dict) -> None:
    """The account was reconnected or disconnected while trakt answered (or the lease ran out): the new pair
    is stored nowhere, so it is revoked rather than left alive at trakt."""
    _revoke_quietly(app_client(creds), token["access_token"])
    log_event(account, AuthEvent.Kind.REFRESH, False, "The grant changed while its token was being refreshed.")
    raise ServiceError(f"The grant of {account.username} changed while its token was being refreshed; try again.")


# -- connecting an account -------------------------------------------------------------


def resolve_owner(name: str | None):
    """The Django user who owns a newly connected account (the only superuser by default)."""
    User = get_user_model()
    if name:
        try:
            return User.objects.get(username=name)
        except User.DoesNotExist:
            raise ServiceError(f"There is no user called {name!r} in this installation.") from None
    superusers = list(User.objects.filter(is_superuser=True, is_active=True)[:2])
    if not superusers:
        raise ServiceError("There is no admin user yet: create one with `python manage.py createsuperuser` "
                           "or open the dashboard, or name the owner with --owner.")
    if len(superusers) > 1:
        raise ServiceError("There are several admin users: name the owner of the account with --owner.")
    return superusers[0]


def _same_user(expected: str, settings_json: dict) -> bool:
    user = settings_json.get("user") or {}
    names = {str(user.get("username", "")).lower(), str((user.get("ids") or {}).get("slug", "")).lower()}
    return expected.strip().lower() in names


def _token_owner(probe: TraktClient, token: dict, expected_username: str | None) -> dict:
    """The trakt user a fresh token belongs to (``/users/settings``' ``user``), checked against the expected one."""
    try:
        info = probe.get_json("/users/settings")
    except TraktError as exc:
        raise ServiceError(f"trakt accepted the code but its account could not be read: {exc}") from exc
    user = (info or {}).get("user") if isinstance(info, dict) else None
    if not isinstance(user, dict) or not user.get("username"):
        raise ServiceError("trakt accepted the code but did not say which account it belongs to; try again.")
    if expected_username and not _same_user(expected_username, info):
        _revoke_quietly(probe, token["access_token"])
        raise WrongAccount(
            f"That code belongs to the trakt account {user['username']}, not {expected_username}: "
            "sign in to trakt as the right user and get a new code."
        )
    return user


def _account_to_store(owner, user: dict, trakt_id: str) -> Account | None:
    """The existing account this grant is for (same trakt id, or the owner's same name from before ids), locked."""
    account = Account.objects.select_for_update().filter(trakt_id=trakt_id).first() if trakt_id else None
    if account is None:
        account = Account.objects.select_for_update().filter(
            owner=owner, username__iexact=user["username"], trakt_id=""
        ).first()
    return account


def connect(token: dict, owner, *, kind: str, expected_username: str | None = None) -> Account:
    """Store a fresh grant: read whose it is, check it, and create or update the account.

    Nothing is stored if the check fails; the new token is then revoked at trakt.
    """
    creds = app_credentials()
    probe = TraktClient(creds.client_id, creds.client_secret, tokens=_FixedToken(token["access_token"]))
    user = _token_owner(probe, token, expected_username)
    ids = user.get("ids") or {}
    trakt_id = str(ids.get("uuid") or ids.get("trakt") or ids.get("slug") or "")[:100]
    with transaction.atomic():
        existing = _account_to_store(owner, user, trakt_id)
        if existing is not None and existing.owner_id != owner.pk:
            _revoke_quietly(probe, token["access_token"])
            raise ServiceError(
                f"The trakt account {user['username']} is already connected by another user of this installation."
            )
        account = existing or Account(owner=owner)
        account.username = str(user["username"])[:200]
        account.slug = str(ids.get("slug") or "")[:200]
        account.trakt_id = trakt_id
        _store_tokens(account, token)
        account.connected_at = timezone.now()
        try:
            account.save()
        except IntegrityError as exc:  # a concurrent connect of the same trakt account
            raise ServiceError("This trakt account was connected at the same moment by another request.") from exc
        log_event(account, kind, True,
                  f"{'Reconnected' if existing else 'Connected'}; token valid until "
                  f"{account.token_expires_at:%Y-%m-%d %H:%M} UTC.")
    from backups.services import schedules

    schedules.ensure_account_schedules(account)
    return account


class _FixedToken:
    def __init__(self, token: str):
        self.token = token

    def access_token(self) -> str:
        return self.token

    def refreshed_access_token(self, rejected: str) -> str:
        raise ServiceError("trakt refused the token it had just issued; try again.")


def _revoke_quietly(client: TraktClient, token: str) -> None:
    try:
        client.revoke(token)
    except TraktError:
        log.info("could not revoke an unused token")


def connect_with_code(code: str, owner, *, expected_username: str | None = None,
                      redirect_uri: str | None = None, code_verifier: str | None = None) -> Account:
    """Exchange an authorization code (the PIN / out-of-band code, or a redirect's code)."""
    code = (code or "").strip()
    if not code or len(code) > 200 or not code.isprintable() or " " in code:
        raise ServiceError("That code is not valid: copy the code trakt shows, with no spaces.")
    client = app_client()
    try:
        token = client.exchange_code(code, redirect_uri or settings.TRAKT_OOB_REDIRECT_URI, code_verifier)
    except GrantRejected as exc:
        log.info("code exchange for %s failed: %s", expected_username or "?", exc)
        raise ServiceError("trakt did not accept that code: it may be mistyped, used already or expired. "
                           "Get a new code and try again.") from exc
    except ClientRejected as exc:
        log.info("code exchange for %s failed: %s", expected_username or "?", exc)
        raise ServiceError(SECRET_REFUSED) from exc
    except TraktError as exc:
        log.info("code exchange for %s failed: %s", expected_username or "?", exc)
        raise ServiceError(f"The code could not be exchanged: {exc}") from exc
    kind = AuthEvent.Kind.EXCHANGE
    return connect(token, owner, kind=kind, expected_username=expected_username)


# -- device code flow --------------------------------------------------------------------


@dataclass
class DevicePoll:
    """The outcome of one poll of the device flow."""

    state: str  # pending | slow_down | connected | expired | denied | invalid | used
    message: str
    account: Account | None = None


DEVICE_STATES = {
    400: ("pending", "Waiting for you to approve the code at trakt…"),
    429: ("slow_down", "trakt asked us to poll more slowly; still waiting…"),
    404: ("invalid", "trakt does not know this code any more. Start again to get a new one."),
    409: ("used", "This code has been used already. Start again to get a new one."),
    410: ("expired", "The code expired before it was approved. Start again to get a new one."),
    418: ("denied", "The request was denied at trakt. Start again if that was a mistake."),
    423: ("locked", "trakt has locked this account (423): sign in at trakt.tv to unlock it, then start again."),
}


def start_device_login() -> dict:
    """Ask trakt for a device code: {device_code, user_code, verification_url, expires_in, interval}.

    The verification URL becomes a link and a QR code: one that is not https (nor on the configured trakt
    hosts) is replaced by trakt's own activation page (``trakt_link``), a ``javascript:`` one among them."""
    try:
        data = app_client().device_code()
    except TraktError as exc:
        raise ServiceError(f"The device login could not be started: {exc}") from exc
    verification_url = trakt_link(data.get("verification_url"))
    if verification_url != data.get("verification_url", verification_url):
        log.warning("trakt's device login sent an unusable verification URL %r; showing %s instead",
                    data.get("verification_url"), verification_url)
    return {
        "device_code": str(data["device_code"]),
        "user_code": str(data.get("user_code", "")),
        "verification_url": verification_url,
        "expires_in": int(data.get("expires_in") or 600),
        "interval": max(1, int(data.get("interval") or 5)),
    }


def poll_device_login(device_code: str, owner, *, expected_username: str | None = None) -> DevicePoll:
    try:
        status, token = app_client().poll_device_token(device_code)
    except Unavailable as exc:
        raise TraktUnreachable(f"trakt cannot be reached right now ({exc}); still waiting…") from exc
    except ClientRejected:
        return DevicePoll("refused", SECRET_REFUSED)
    except TraktError as exc:
        raise ServiceError(f"Waiting for the approval failed: {exc}") from exc
    if status == 200 and token:
        account = connect(token, owner, kind=AuthEvent.Kind.DEVICE, expected_username=expected_username)
        return DevicePoll("connected", f"Connected the trakt account {account.username}.", account)
    state, message = DEVICE_STATES.get(status, ("invalid", f"trakt answered {status}; start again."))
    return DevicePoll(state, message)


# -- redirect flow (authorization code with PKCE) ----------------------------------------


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(redirect_uri: str, state: str, code_challenge: str | None = None) -> str:
    creds = app_credentials()
    params = {"response_type": "code", "client_id": creds.client_id, "redirect_uri": redirect_uri, "state": state}
    if code_challenge:
        params |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
    return f"{settings.TRAKT_AUTH_URL}/oauth/authorize?{urlencode(params)}"


# -- disconnecting -------------------------------------------------------------------------


def revoke_grant(account: Account) -> None:
    """Revoke the token at trakt (best effort) and forget it here.

    The request to trakt runs outside any transaction; the short write after it also ends any refresh under
    way, whose new pair is then revoked by that refresh itself.
    """
    token = Account.objects.get(pk=account.pk).access_token
    detail = "Disconnected."
    if token:
        try:
            app_client().revoke(token)
            detail = "Token revoked at trakt; disconnected."
        except (TraktError, NotConfigured) as exc:
            detail = f"Disconnected; trakt could not revoke the token ({exc})."
    with transaction.atomic():
        row = Account.objects.select_for_update().get(pk=account.pk)
        row.access_token = row.refresh_token = ""
        row.token_expires_at = row.token_lifetime = None
        row.status = Account.Status.DISCONNECTED
        row.status_detail = ""
        _end_lease(row)
        row.save(update_fields=GRANT_FIELDS + LEASE_FIELDS)
        log_event(row, AuthEvent.Kind.REVOKE, True, detail)
    _copy_grant(row, account)
