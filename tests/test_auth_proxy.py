"""Sign-in through an authenticating reverse proxy, over real HTTP: the live server, requests from a trusted
loopback address (127.0.0.1, "the proxy") and from another (127.0.0.2, anyone else)."""

from __future__ import annotations

import http.client
import ipaddress
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model

from tests.support import make_user

pytestmark = pytest.mark.django_db(transaction=True)

User = get_user_model()


@pytest.fixture
def proxy(settings, admin_user):
    settings.AUTH_PROXY_HEADER = "Remote-User"
    settings.AUTH_PROXY_TRUSTED = [ipaddress.ip_network("127.0.0.1/32")]
    return make_user("alice")


def get(live_server, path: str, *, source: str, user: str | None = None, cookie: str = ""):
    """GET PATH from SOURCE, with the proxy's header naming USER (sent as UTF-8, as proxies do)."""
    parts = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30, source_address=(source, 0))
    headers = {**({"Remote-User": user.encode()} if user else {}), **({"Cookie": cookie} if cookie else {})}
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def test_the_proxy_signs_its_user_in(proxy, live_server):
    status, headers, body = get(live_server, "/", source="127.0.0.1", user="alice")
    assert status == 200 and "alice" in body and "Sign out" in body
    session = headers["Set-Cookie"].split(";")[0]
    # the session holds: the next request without the header is still alice's
    assert get(live_server, "/", source="127.0.0.1", cookie=session)[0] == 200


def test_the_header_from_anyone_else_is_ignored(proxy, live_server):
    status, headers, _ = get(live_server, "/", source="127.0.0.2", user="alice")
    assert status == 302 and headers["Location"].startswith("/login/")


def test_unknown_users_are_created_only_when_asked(proxy, live_server, settings):
    assert get(live_server, "/", source="127.0.0.1", user="newcomer")[0] == 302
    assert not User.objects.filter(username="newcomer").exists()
    settings.AUTH_PROXY_CREATE_USERS = True
    assert get(live_server, "/", source="127.0.0.1", user="newcomer")[0] == 200
    newcomer = User.objects.get(username="newcomer")
    assert not newcomer.has_usable_password() and not newcomer.is_staff


def test_inactive_and_impossible_names_are_not_signed_in(proxy, live_server, settings):
    User.objects.filter(username="alice").update(is_active=False)
    assert get(live_server, "/", source="127.0.0.1", user="alice")[0] == 302
    settings.AUTH_PROXY_CREATE_USERS = True
    for name in ("a b", "x" * 151, "evil\u202e"):
        assert get(live_server, "/", source="127.0.0.1", user=name)[0] == 302
    assert User.objects.count() == 2  # the admin and alice
    assert get(live_server, "/", source="127.0.0.1", user="zoë")[0] == 200  # a name beyond ASCII is fine
    assert User.objects.filter(username="zoë").exists()


def test_off_without_the_header_setting(proxy, live_server, settings):
    settings.AUTH_PROXY_HEADER = ""
    assert get(live_server, "/", source="127.0.0.1", user="alice")[0] == 302


def test_the_api_and_metrics_ignore_the_proxy(proxy, live_server, settings):
    """The API signs in by its tokens only, and /metrics by its own token: the proxy's header opens neither."""
    settings.METRICS_TOKEN = "metrics-secret"
    status, headers, body = get(live_server, "/api/v1/accounts", source="127.0.0.1", user="alice")
    assert status == 401 and "Set-Cookie" not in headers and '"Unauthorized"' in body
    assert get(live_server, "/metrics", source="127.0.0.1", user="alice")[0] == 401
