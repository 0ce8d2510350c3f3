"""Cross-cutting request handling: the first-run redirect, the content security policy, no caching of what a
signed-in user sees, a small body limit for anonymous requests, and sign-in by an auth proxy."""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

log = logging.getLogger(__name__)


class FirstRunMiddleware:
    """While the installation has no user at all, every page leads to the form that creates the first one.

    Only anonymous requests can find no user, so a signed-in request costs no query here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self._exempt(request.path_info) and not request.user.is_authenticated:
            if not get_user_model().objects.exists():
                return redirect("first_run")
        return self.get_response(request)

    @staticmethod
    def _exempt(path: str) -> bool:
        static = "/" + settings.STATIC_URL.lstrip("/")
        return (path == reverse("first_run") or path.startswith((static, "/api/"))
                or path in ("/health", "/metrics", "/favicon.ico"))


class ContentSecurityPolicyMiddleware:
    """Only this installation's own scripts, styles and images; no inline script or style, no framing.

    The admin (Django's, with django-q2's and django-axes' pages) has no inline script or style attribute either
    (tests/test_security_headers.py opens its pages in Chromium); its forms post only to itself.
    """

    POLICY = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'{auth}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Read per request: the redirect flow's form posts end at the auth host, which tests move.
        auth = "" if request.path.startswith("/admin/") else f" {settings.TRAKT_AUTH_URL}"
        response.setdefault("Content-Security-Policy", self.POLICY.format(auth=auth))
        return response


class PrivateResponsesMiddleware:
    """Whatever a signed-in user is answered (pages, status JSON, downloads, the admin) is never stored by a
    browser or a proxy cache: a shared computer's back button or disk cache keeps no account data. Static files
    are served above this (WhiteNoise) and stay cacheable."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.user.is_authenticated:  # after the view: signing in counts, signing out does not
            add_never_cache_headers(response)
        return response


class AnonymousBodyLimitMiddleware:
    """An anonymous request whose body is larger than ANONYMOUS_MAX_BODY is refused with 413 before anything
    reads it: the sign-in and first-run forms are a few hundred bytes, and nobody unknown gets to make the
    server read, parse or spool hundreds of megabytes. Signed-in users keep Django's own limits (and the import
    page its streamed upload). The size is the one Content-Length announces: Django reads no more than that."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._announced(request) > settings.ANONYMOUS_MAX_BODY and not request.user.is_authenticated:
            return HttpResponse(
                f"This request is larger than this installation accepts before signing in "
                f"({settings.ANONYMOUS_MAX_BODY} bytes, ANONYMOUS_MAX_BODY).\n",
                status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def _announced(request: HttpRequest) -> int:
        try:
            return int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 0  # as Django: a body it cannot measure is never read


class AuthProxyMiddleware:
    """Sign-in by a reverse proxy that authenticates (Authelia, Authentik): off unless ``AUTH_PROXY_HEADER`` is set.

    A request from an address in ``AUTH_PROXY_TRUSTED`` (the socket's: the proxy itself) whose header names a
    user signs that user in (creating them when ``AUTH_PROXY_CREATE_USERS``; never an inactive one). The header
    from any other address is ignored, so nobody can name themselves in. A request without the header keeps its
    session, as a proxy may leave the header off some paths; one naming another user switches to that user.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The API signs in by its tokens only (backups/api_auth.py), whoever the proxy names.
        if settings.AUTH_PROXY_HEADER and not request.path_info.startswith("/api/") and _from_auth_proxy(request):
            _sign_in_proxy_user(request)
        return self.get_response(request)


def _from_auth_proxy(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.AUTH_PROXY_TRUSTED)


def _sign_in_proxy_user(request: HttpRequest) -> None:
    meta_key = "HTTP_" + settings.AUTH_PROXY_HEADER.upper().replace("-", "_")
    try:  # WSGI hands headers over as latin-1; proxies send names as UTF-8
        username = request.META.get(meta_key, "").encode("latin-1").decode("utf-8").strip()
    except UnicodeError:
        username = ""
    if not username or (request.user.is_authenticated and request.user.get_username() == username):
        return
    try:
        UnicodeUsernameValidator()(username)
        if len(username) > 150:
            raise ValidationError("too long")
    except ValidationError:
        log.warning("the auth proxy named a user this app cannot have: %s", username[:200])
        return
    users = get_user_model().objects
    user = users.filter(username=username).first()
    if user is None and settings.AUTH_PROXY_CREATE_USERS and users.exists():  # the first user is first-run's admin
        user = users.create_user(username)  # no usable password: they sign in through the proxy only
        log.info("user %s created at their first sign-in through the auth proxy", username)
    if user is None or not user.is_active:
        return
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
