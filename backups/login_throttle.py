"""The parts of the sign-in throttle that django-axes leaves to the project using it.

django-axes counts failed sign-ins per (username, client address) in the database, refuses that pair for
``AXES_COOLOFF_TIME`` once it reaches ``AXES_FAILURE_LIMIT``, and lists attempts and lockouts in the admin. Three
things are ours:

* **Which address.** ``client_address`` is the socket's address, or, when the socket is a proxy listed in
  ``TRUSTED_PROXIES``, the nearest address in ``X-Forwarded-For`` that is not a trusted proxy. A header sent by
  anyone else is ignored, so nobody can pick the address their failures count against.
* **Which username.** ``normalized_username`` folds case and compatibility forms (``ALICE``, ``ａｌｉｃｅ``),
  so variants of one name share one count.
* **Taking turns.** axes checks the count before the password is checked and adds to it afterwards: parallel
  requests of one pair would all be checked before the first failure is counted. ``one_at_a_time`` makes the
  requests of a pair wait for each other (a pair's turn lasts one password check), so at most the limit of
  passwords is ever checked. Other pairs are not held up: the lock is one of ``STRIPES`` files chosen by the
  pair's hash on this host, or PostgreSQL's advisory lock when the database is shared by several hosts.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import HttpResponse

STRIPES = 64
LOCK_CLASS = 0x7A5E  # the first key of PostgreSQL's two-key advisory locks: this app's sign-ins


def normalized_username(request, credentials: dict | None) -> str:
    """The username a failure counts against: NFKC-folded and case-folded (axes' AXES_USERNAME_CALLABLE)."""
    username = (credentials or {}).get("username") or ""
    return unicodedata.normalize("NFKC", str(username)).casefold()


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address) -> bool:
    return address is not None and any(address in network for network in settings.TRUSTED_PROXIES)


def client_address(request) -> str | None:
    """The client's address (axes' AXES_CLIENT_IP_CALLABLE; see the module's docstring); None when the request
    has none (a test client's force_login)."""
    remote = request.META.get("REMOTE_ADDR") if request is not None else None
    if not remote or not _trusted(_address(remote)):
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):  # the nearest first: the ones further left were written by the client
        address = _address(hop)
        if address is None:
            break  # not an address: nothing before it can be trusted either
        if not _trusted(address):
            return str(address)
    return remote


def _stripe(username: str, address: str) -> int:
    digest = hashlib.sha256(f"{username}\n{address}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % STRIPES


@contextmanager
def one_at_a_time(request, username: str) -> Iterator[None]:
    """The sign-in attempts of one (username, address) pair, one after the other."""
    stripe = _stripe(normalized_username(request, {"username": username}), client_address(request) or "")
    if connection.vendor == "postgresql":  # a session lock, not a transaction's: the failure axes writes stays
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_CLASS, stripe])
            try:
                yield
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, stripe])
        return
    folder = Path(settings.DATA_DIR) / "run"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"login-{stripe:02d}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def lockout_response(request, response, credentials):
    """axes' AXES_LOCKOUT_CALLABLE: the sign-in page the form rendered (its error says how long to wait), as
    429 Too Many Requests."""
    if response is None:
        return HttpResponse("Too many failed sign-ins: wait, then try again.", status=429, content_type="text/plain")
    response.status_code = 429
    return response
