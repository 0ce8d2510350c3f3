"""This installation's own address: the absolute URLs it hands out, and the redirect targets it accepts.

With the default ``ALLOWED_HOSTS=*`` Django believes any Host header, so nothing here trusts one when it can
help it: absolute URLs come from ``SITE_URL`` when it is set, and a redirect target taken from a request
(``next``) must be a path of this site, whatever the Host says.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, QueryDict
from django.utils.http import url_has_allowed_host_and_scheme

REDIRECT_FIELD = "next"


def absolute_url(path: str, request: HttpRequest | None = None) -> str:
    """PATH (``/connect/callback``) as an absolute URL: under SITE_URL when it is set, else under the address of
    REQUEST (which a client can forge while ALLOWED_HOSTS is ``*``); "" with neither (a notification's link)."""
    site = (settings.SITE_URL or "").rstrip("/")
    if site:
        return site + path
    return request.build_absolute_uri(path) if request is not None else ""


def unset_address_settings() -> list[str]:
    """The settings that pin this installation's address and are still left open, for the pages that say so."""
    unset = [] if settings.SITE_URL else ["SITE_URL"]
    return unset + (["ALLOWED_HOSTS"] if "*" in settings.ALLOWED_HOSTS else [])


def is_same_site_path(target: str | None) -> bool:
    """Whether TARGET is a path of this site: one leading "/", not followed by "/" or "\\" (which browsers read
    as another host), no scheme, no white space or control character (browsers drop some of them, which can
    turn "/\\t/evil.example" into "//evil.example"). Never a host, not even this request's own."""
    if not target or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return False
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return False
    return url_has_allowed_host_and_scheme(target, allowed_hosts=set())


def _without_foreign_next(values: QueryDict) -> QueryDict:
    if REDIRECT_FIELD not in values or is_same_site_path(values.get(REDIRECT_FIELD)):
        return values
    values = values.copy()
    del values[REDIRECT_FIELD]
    return values


def same_site_next(view: Callable) -> Callable:
    """For views that are not this app's own (the admin's sign-in and sign-out): a ``next`` that is not a path
    of this site is dropped before they see it, so they fall back to their default page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        request.GET = _without_foreign_next(request.GET)
        if request.method == "POST":
            request.POST = _without_foreign_next(request.POST)
        return view(request, *args, **kwargs)

    return wrapper
