"""Personal API tokens: made, checked and revoked here; the REST API (``api.py``) and the settings page use them.

A token is ``tbk_`` and 43 random URL-safe characters (256 bits), shown once when it is made; only its sha256 is
stored (a token that random needs no slow hash), with its first characters as a hint. ``Authorization: Bearer``
is the only way in: the API never reads the session cookie, so a page cannot be made to call it (no CSRF) and
an auth proxy's header signs nobody in there.

Wrong tokens are counted per client address (``client_address``: ``TRUSTED_PROXIES`` decide when
``X-Forwarded-For`` is read) in the shared cache, for 10 minutes: past ``API_FAILED_TOKEN_LIMIT`` the API answers
429 to that address, whatever token it sends, until the 10 minutes are over. The count is not exact under
parallel requests on the database cache (it adds without a lock); with 256-bit tokens it exists to stop
hammering, not guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from backups.login_throttle import client_address
from backups.models import ApiToken

FAILURE_WINDOW = 10 * 60  # seconds
LAST_USED_EVERY = 60  # seconds: last_used is written at most this often per token


class TooManyFailures(Exception):
    """This address sent too many wrong tokens lately."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def make_token(user, name: str, *, read_only: bool = False) -> tuple[ApiToken, str]:
    """A new token of ``user``: the row, and the token itself (to show once; it is not kept)."""
    token = ApiToken.PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(user=user, name=name.strip()[:100] or "token", key_hash=digest(token),
                                  hint=token[: len(ApiToken.PREFIX) + 4], read_only=read_only)
    return row, token


def _failures_key(request) -> str:
    return f"api-token-failures:{client_address(request) or 'unknown'}"


def _failed(request) -> None:
    key = _failures_key(request)
    if not cache.add(key, 1, FAILURE_WINDOW):
        try:
            cache.incr(key)
        except ValueError:  # expired between the two calls
            cache.add(key, 1, FAILURE_WINDOW)


def token_user(request, token: str) -> ApiToken | None:
    """The token's row (its user now the request's), or None for a wrong one; TooManyFailures past the limit."""
    if (cache.get(_failures_key(request)) or 0) >= settings.API_FAILED_TOKEN_LIMIT:
        raise TooManyFailures
    row = None
    if token.startswith(ApiToken.PREFIX) and len(token) < 100:
        row = ApiToken.objects.select_related("user").filter(key_hash=digest(token)).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest(token)) or not row.user.is_active:
        _failed(request)
        return None
    now = timezone.now()
    if row.last_used is None or (now - row.last_used).total_seconds() >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=row.pk).update(last_used=now)
    request.user = row.user
    return row


