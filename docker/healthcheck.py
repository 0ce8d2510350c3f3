"""The container's HEALTHCHECK: exit 0 when /health answers 200 (the web server is up and reaches the database).

Standard library only, so it works whatever the image holds.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is not a healthy answer


def host_header() -> str:
    """A Host that Django accepts: the first ALLOWED_HOSTS entry (".example.com" allows "example.com")."""
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = host.strip().lstrip(".")
        if host and "*" not in host:
            return host
    return "127.0.0.1"


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT') or '8000'}/health"
    request = urllib.request.Request(url, headers={
        "Host": host_header(),
        # Trusted only when the app trusts proxy headers (USE_HTTPS): then SECURE_SSL_REDIRECT leaves it alone.
        "X-Forwarded-Proto": "https",
    })
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=5) as response:
            healthy = response.status == 200
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if not healthy:
        print(f"unhealthy: {url} answered {response.status}", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
