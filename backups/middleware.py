"""Cross-cutting request handling: the first-run redirect and the content security policy."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


class FirstRunMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """Only this installation's own scripts, styles and images; no inline script, no framing."""

    POLICY = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self' {auth}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )

    def __init__(self, get_response):
        from django.conf import settings

        self.header = self.POLICY.format(auth=settings.TRAKT_AUTH_URL)
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/admin/"):
            response.setdefault("Content-Security-Policy", self.header)
        return response
