"""Cross-cutting request handling: the first-run redirect and the content security policy."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse


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
        return path == reverse("first_run") or path.startswith(static) or path in ("/health", "/favicon.ico")


class ContentSecurityPolicyMiddleware:
    """Only this installation's own scripts, styles and images; no inline script, no framing."""

    POLICY = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self' {auth}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/admin/"):
            # Read per request: the redirect flow's form posts end at the auth host, which tests move.
            response.setdefault("Content-Security-Policy", self.POLICY.format(auth=settings.TRAKT_AUTH_URL))
        return response
