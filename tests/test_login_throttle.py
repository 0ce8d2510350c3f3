"""The sign-in throttle over real HTTP: the live server, many threads, real socket addresses (127.0.0.x are all
this machine's), and a reverse proxy's X-Forwarded-For."""

from __future__ import annotations

import http.client
import ipaddress
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher

from tests.support import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = django_settings.AXES_FAILURE_LIMIT


class CountingHasher(MD5PasswordHasher):
    """Counts the passwords checked (the live server runs in this process, in threads)."""

    algorithm = "counted_md5"
    checks = 0
    lock = threading.Lock()

    def verify(self, password, encoded):
        with CountingHasher.lock:
            CountingHasher.checks += 1
        return super().verify(password, encoded)


@pytest.fixture
def alice(settings):
    settings.PASSWORD_HASHERS = ["tests.test_login_throttle.CountingHasher"]
    CountingHasher.checks = 0
    return get_user_model().objects.create_user("alice", password=PASSWORD)


class Browser:
    """One visitor: a CSRF cookie of its own, requests from a chosen loopback address, perhaps through a proxy."""

    def __init__(self, base_url: str, source: str = "127.0.0.1"):
        self.host, self.port = urlsplit(base_url).hostname, urlsplit(base_url).port
        self.source = source
        status, headers, _ = self.request("GET", "/login/")
        self.token = re.search(r"csrftoken=([^;]+)", headers.get("Set-Cookie", "")).group(1)

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60, source_address=(self.source, 0))
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode()
        finally:
            connection.close()

    def sign_in(self, username: str, password: str, forwarded_for: str | None = None) -> int:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={self.token}"}
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        body = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": self.token})
        return self.request("POST", "/login/", body, headers)[0]


def test_200_parallel_wrong_passwords_check_at_most_the_limit(alice, live_server):
    attacker = Browser(live_server.url)
    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(lambda _: attacker.sign_in("alice", "wrong"), range(200)))
    assert CountingHasher.checks <= LIMIT, f"{CountingHasher.checks} passwords checked for a limit of {LIMIT}"
    assert statuses.count(429) >= 200 - LIMIT and set(statuses) <= {200, 429}
    # the right password among a burst of wrong ones, from the locked address: refused as well
    with ThreadPoolExecutor(max_workers=16) as pool:
        burst = list(pool.map(lambda n: attacker.sign_in("alice", PASSWORD if n == 20 else "wrong"), range(40)))
    assert 302 not in burst and CountingHasher.checks <= LIMIT


def test_the_real_user_elsewhere_signs_in_while_the_attackers_address_is_locked(alice, live_server):
    attacker, alice_browser = Browser(live_server.url, "127.0.0.2"), Browser(live_server.url, "127.0.0.3")
    for _ in range(LIMIT + 3):
        attacker.sign_in("alice", "wrong")
    assert attacker.sign_in("alice", PASSWORD) == 429
    assert alice_browser.sign_in("alice", PASSWORD) == 302


def test_behind_a_trusted_proxy_the_forwarded_address_counts(alice, live_server, settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]
    proxy = Browser(live_server.url, "127.0.0.1")
    for _ in range(LIMIT):
        proxy.sign_in("alice", "wrong", forwarded_for="203.0.113.5")
    assert proxy.sign_in("alice", PASSWORD, forwarded_for="203.0.113.5") == 429
    # the proxy's other visitors are not locked out: each has an address of its own
    assert proxy.sign_in("alice", PASSWORD, forwarded_for="198.51.100.7") == 302
    # a client's own (forged) X-Forwarded-For in front of what the proxy appends is not believed
    assert proxy.sign_in("alice", PASSWORD, forwarded_for="198.51.100.7, 203.0.113.5") == 429


def test_a_forged_forwarded_for_from_an_untrusted_address_is_ignored(alice, live_server, settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]
    attacker = Browser(live_server.url, "127.0.0.2")  # not a trusted proxy
    for number in range(LIMIT):
        attacker.sign_in("alice", "wrong", forwarded_for=f"198.51.100.{number}")  # a new address each time?
    assert attacker.sign_in("alice", PASSWORD, forwarded_for="198.51.100.200") == 429  # no: its socket's
