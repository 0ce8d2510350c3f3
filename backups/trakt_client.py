"""The trakt HTTP client: the only module that talks to trakt.

It sends every header trakt requires, retries what is worth retrying (5xx,
Cloudflare 52x pages, connection errors, truncated bodies) with exponential
backoff and jitter, waits out 429s, keeps each account under trakt's GET limit
with a client-side limiter, walks pagination to the last page, refuses any body
that is not JSON, and on a 401 asks its token source for a fresh token once.

Errors carry a sentence for people (``str(exc)``); details go to the log.
Tokens never appear in messages or logs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from django.conf import settings
from urllib3.util import SKIP_HEADER

from backups import codec
from trakt_web import __version__

log = logging.getLogger(__name__)

USER_AGENT = f"trakt-backup/{__version__} (+https://github.com/trakt-backup/trakt-backup)"
PAGE_LIMIT = 250  # trakt clamps larger limits to 250 without an error
RETRY_STATUSES = {500, 502, 503, 504, 520, 521, 522, 523, 524}


class TraktError(Exception):
    """Something went wrong talking to trakt; ``str()`` is a sentence for the user."""

    status: int | None = None

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class GrantRejected(TraktError):
    """trakt refused the grant (invalid_grant): the account must be connected again."""


class ClientRejected(TraktError):
    """trakt refused the app's credentials (invalid_client): with a known Client ID, the secret is wrong."""


class AnswerLost(TraktError):
    """A write went out and its answer never came (a timeout, a reset, a 5xx): it may have been applied."""


class LimitReached(TraktError):
    """420: the write would pass one of the account's limits (a free account's watchlist, lists, …)."""


class AccessDenied(TraktError):
    """401 on an API call even after a refresh."""


class Unavailable(TraktError):
    """trakt kept failing (5xx, Cloudflare, network) after every retry."""


class BadResponse(TraktError):
    """trakt answered with something that is not the JSON we asked for."""


class Skippable(TraktError):
    """An optional endpoint is not available to this account (426 VIP only, 404)."""


class AccountLocked(TraktError):
    """423: trakt has locked the account."""


class TokenSource(Protocol):
    def access_token(self) -> str: ...

    def refreshed_access_token(self, rejected: str) -> str: ...


class RateLimiter:
    """A sliding window of request times: at most ``limit`` in any ``period`` seconds."""

    def __init__(self, limit: int, period: float):
        self.limit, self.period = limit, period
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def note_past(self, count: int, seconds_ago: float) -> None:
        """Count requests made earlier (by another process) against the window."""
        if count <= 0 or seconds_ago >= self.period:
            return
        with self._lock:
            at = time.monotonic() - max(seconds_ago, 0.0)
            self._times = deque(sorted([*self._times, *([at] * min(count, self.limit))]))

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                while self._times and now - self._times[0] >= self.period:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return
                wait = self.period - (now - self._times[0])
            time.sleep(min(max(wait, 0.01), 5))


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(key: str) -> RateLimiter:
    """One limiter per account per process, shared by every client of that account."""
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None or (limiter.limit, limiter.period) != (settings.TRAKT_RATE_LIMIT, settings.TRAKT_RATE_PERIOD):
            limiter = _limiters[key] = RateLimiter(settings.TRAKT_RATE_LIMIT, settings.TRAKT_RATE_PERIOD)
        return limiter


# trakt takes one write a second per account (POST, PUT, DELETE); a margin keeps arrivals a second apart too.
WRITE_INTERVAL = 1.05
_write_limiters: dict[str, RateLimiter] = {}


def write_limiter_for(key: str) -> RateLimiter:
    """One write limiter per account per process."""
    with _limiters_lock:
        return _write_limiters.setdefault(key, RateLimiter(1, WRITE_INTERVAL))


@dataclass
class Page:
    items: Any
    page: int
    page_count: int
    item_count: int | None


@dataclass
class _Retry:
    """Why an attempt is worth repeating, and how long trakt asked us to wait (429's Retry-After)."""

    problem: str
    wait: float | None = None
    rate_limited: bool = False


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    slot_seconds: float = 0.0  # summed over requests: from sending each to the end of its answer
    first_sent: float | None = None
    last_answered: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def on_the_wire(self, sent: float, answered: float) -> None:
        with self.lock:
            self.slot_seconds += answered - sent
            self.first_sent = sent if self.first_sent is None else min(self.first_sent, sent)
            self.last_answered = answered if self.last_answered is None else max(self.last_answered, answered)

    def average_in_flight(self) -> float:
        """Requests on the wire at once, on average, from the first request sent to the last answer read."""
        with self.lock:
            span = (self.last_answered - self.first_sent) if self.first_sent is not None else 0.0
            return self.slot_seconds / span if span > 0 else 0.0


def _describe_html(response: requests.Response) -> str:
    if response.status_code in (520, 521, 522, 523, 524):
        return f"trakt's network (Cloudflare) answered with an error page ({response.status_code})"
    if response.status_code == 403:
        return "trakt's firewall (Cloudflare) blocked the request (403)"
    return f"trakt answered with a web page instead of data ({response.status_code})"


class TraktClient:
    def __init__(
        self,
        client_id: str,
        client_secret: str = "",
        *,
        tokens: TokenSource | None = None,
        limiter: RateLimiter | None = None,
        write_limiter: RateLimiter | None = None,
        api_url: str | None = None,
        auth_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        max_wait: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
        in_flight: int | None = None,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self.tokens = tokens
        self.limiter = limiter
        self.write_limiter = write_limiter  # trakt allows one write a second per account
        self.api_url = (api_url or settings.TRAKT_API_URL).rstrip("/")
        self.auth_url = (auth_url or settings.TRAKT_AUTH_URL).rstrip("/")
        self.timeout = timeout or settings.TRAKT_TIMEOUT
        self.max_retries = settings.TRAKT_MAX_RETRIES if max_retries is None else max_retries
        self.sleep = sleep
        self.max_wait = max_wait  # the longest Retry-After this client waits out
        self.stats = Stats()
        self._local = threading.local()  # one requests.Session per thread
        # At most ``in_flight`` requests on the wire at once, however many threads share this client: a thread
        # reads and stores its answer outside the slot, so the next request goes out meanwhile.
        self.in_flight = threading.BoundedSemaphore(in_flight) if in_flight else contextlib.nullcontext()

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # Proxy settings are read once, not per request (requests would also look for a .netrc each time).
            session.proxies = requests.utils.get_environ_proxies(self.api_url)
            session.trust_env = False
            session.headers.update(
                {
                    "Content-Type": "application/json",
                    "trakt-api-version": "2",
                    "trakt-api-key": self.client_id,
                    "User-Agent": USER_AGENT,
                }
            )
            self._local.session = session
        return session

    # -- low level ---------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return min(60.0, settings.TRAKT_BACKOFF * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)

    def _send(self, method: str, url: str, *, auth: bool, once: bool = False, **kwargs) -> requests.Response:
        """One logical request with retries. Returns a response whose JSON body is parsed in ``.data``.

        ``once``: a write that must not be sent twice blindly: any failure after it may have reached trakt
        raises AnswerLost instead of a retry (a 429 is retried: trakt refused it without applying it)."""
        attempt = 0
        refreshed = False
        while True:
            token = self._access_token() if auth else ""
            headers = {"Authorization": f"Bearer {token}"} if auth else {}
            if self.limiter is not None and method == "GET":
                self.limiter.acquire()
            elif self.write_limiter is not None and method != "GET":
                self.write_limiter.acquire()
            self.stats.add("requests")
            received = self._transfer(method, url, headers, kwargs)
            if isinstance(received, _Retry):
                retry = received
            else:
                response, body = received
                if response.status_code == 401 and auth and not refreshed and self.tokens is not None:
                    refreshed = True
                    self.tokens.refreshed_access_token(token)
                    continue
                outcome = self._interpret(response, body)
                if not isinstance(outcome, _Retry):
                    return outcome
                retry = outcome
            if once and not retry.rate_limited:
                raise AnswerLost(f"{_capital(retry.problem)}; the write may or may not have been applied.")
            attempt = self._wait_to_retry(retry, attempt, method, url)

    def _access_token(self) -> str:
        if self.tokens is None:
            raise TraktError("No trakt account is connected for this request.")
        return self.tokens.access_token()

    def _transfer(self, method: str, url: str, headers: dict, kwargs: dict) -> tuple[requests.Response, bytes] | _Retry:
        """Send the request and read its whole body.

        One of the in-flight slots is held only while the request is at trakt, from sending it to the end of
        its answer: the request is prepared before, and the answer parsed after, by the caller.
        """
        try:
            prepared = self.session.prepare_request(requests.Request(method, url, headers=headers, **kwargs))
            with self.in_flight:
                sent = time.monotonic()
                response = self.session.send(prepared, timeout=self.timeout, stream=True)
                body = _read_body(response)  # a truncated body raises here
                self.stats.on_the_wire(sent, time.monotonic())
            time.sleep(0)  # let the thread that takes the slot send its request before this one parses
            return response, body
        except requests.exceptions.Timeout:
            return _Retry(f"trakt did not answer within {self.timeout} seconds")
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            log.info("%s %s: %s", method, url, type(exc).__name__)
            return _Retry("the connection to trakt failed")
        except requests.exceptions.ContentDecodingError:  # a compressed body that does not unpack
            return _Retry("trakt sent a damaged answer")
        except requests.exceptions.RequestException as exc:  # a redirect loop, a bad URL: retrying cannot help
            # (never let it out as it is: requests' errors are OSErrors, which callers read as a disk problem)
            raise TraktError(f"The request to trakt failed ({type(exc).__name__}); try again later.") from exc

    @staticmethod
    def _interpret(response: requests.Response, body: bytes) -> requests.Response | _Retry:
        """The response with its JSON in ``.data``, a reason to try again, or an error that retrying cannot mend."""
        status = response.status_code
        if status == 429:
            return _Retry("trakt kept answering 'too many requests' (429)", wait=_retry_after(response),
                          rate_limited=True)
        if status in RETRY_STATUSES:
            return _Retry(_describe_html(response) if _is_html(response) else f"trakt is having problems ({status})")
        if _is_html(response):
            raise BadResponse(_describe_html(response) + ".", status)
        try:
            response.data = codec.loads(body) if body.strip() else None
        except RecursionError:  # thousands of nested brackets: an attack or a bug, never data
            raise BadResponse(f"trakt sent an answer nested too deeply to read ({status}).", status) from None
        except ValueError:
            return _Retry(f"trakt sent a damaged answer ({status})")
        return response

    def _wait_to_retry(self, retry: _Retry, attempt: int, method: str, url: str) -> int:
        """Wait before the next attempt (Retry-After, or backoff with jitter); the attempt's number, or Unavailable."""
        if retry.rate_limited:
            self.stats.add("rate_limited")
        if attempt >= self.max_retries:
            if retry.rate_limited:
                raise Unavailable(f"{_capital(retry.problem)}; try again later.", 429)
            raise Unavailable(f"{_capital(retry.problem)} after {attempt + 1} attempts; try again later.")
        attempt += 1
        if retry.rate_limited:
            delay = retry.wait if retry.wait is not None else self._backoff(attempt)
            self.sleep(min(delay, self.max_wait))
            return attempt
        self.stats.add("retries")
        delay = self._backoff(attempt)
        log.info("%s %s: %s; retry %d in %.1fs", method, url, retry.problem, attempt, delay)
        self.sleep(delay)
        return attempt

    # -- API (api host, OAuth bearer) ------------------------------------------------

    def get(self, path: str, params: dict | None = None) -> requests.Response:
        response = self._send("GET", self.api_url + path, auth=True, params=params or {})
        _raise_for_api_status(response, path)
        return response

    def get_json(self, path: str, params: dict | None = None) -> Any:
        return self.get(path, params).data

    def post(self, path: str, body: Any, *, idempotent: bool = True) -> Any:
        """A write (through the account's write limiter): trakt's answer. A write that is not idempotent (a
        history add: trakt records a second play) is never resent once it may have arrived: AnswerLost."""
        response = self._send("POST", self.api_url + path, auth=True, once=not idempotent, data=codec.dumps(body))
        _raise_for_api_status(response, path)
        return response.data

    def pages(self, path: str, params: dict | None = None, start: int = 1) -> Iterator[Page]:
        """Every page of a paginated endpoint, in order, up to trakt's page count."""
        page = start
        while True:
            response = self.get(path, {**(params or {}), "page": page, "limit": PAGE_LIMIT})
            current = parse_page(response, path, page)
            yield current
            if page >= current.page_count:
                return
            page += 1

    def page(self, path: str, params: dict | None, page: int) -> Page:
        response = self.get(path, {**(params or {}), "page": page, "limit": PAGE_LIMIT})
        return parse_page(response, path, page)

    # -- OAuth (auth host, client credentials) ---------------------------------------

    def _oauth(self, path: str, payload: dict) -> requests.Response:
        return self._send("POST", self.auth_url + path, auth=False, data=json.dumps(payload))

    def _token_call(self, payload: dict) -> dict:
        response = self._oauth("/oauth/token", {**payload, "client_id": self.client_id, "client_secret": self.client_secret})
        status = response.status_code
        data = response.data if isinstance(response.data, dict) else {}
        if status == 200 and data.get("access_token") and data.get("refresh_token"):
            return data
        error = data.get("error", "")
        if status in (400, 401) and error in ("invalid_grant", "invalid_token", ""):
            raise GrantRejected("trakt rejected the code or the saved grant (invalid_grant).", status)
        if status == 401 or error == "invalid_client":
            raise ClientRejected(
                "trakt rejected the app credentials (invalid client): check the Client ID and Client Secret.", status
            )
        if status == 423:
            raise AccountLocked("trakt has locked this account (423); sign in at trakt.tv to unlock it.", status)
        if status == 200:
            raise BadResponse("trakt's token answer was missing the tokens.", status)
        raise TraktError(f"trakt refused the token request ({status}{': ' + error if error else ''}).", status)

    def exchange_code(self, code: str, redirect_uri: str, code_verifier: str | None = None) -> dict:
        payload = {"code": code, "redirect_uri": redirect_uri, "grant_type": "authorization_code"}
        if code_verifier:
            payload["code_verifier"] = code_verifier
        return self._token_call(payload)

    def refresh(self, refresh_token: str, redirect_uri: str) -> dict:
        return self._token_call(
            {"refresh_token": refresh_token, "redirect_uri": redirect_uri, "grant_type": "refresh_token"}
        )

    def revoke(self, token: str) -> None:
        response = self._oauth(
            "/oauth/revoke", {"token": token, "client_id": self.client_id, "client_secret": self.client_secret}
        )
        if response.status_code not in (200, 204):
            raise TraktError(f"trakt did not revoke the token ({response.status_code}).", response.status_code)

    def device_code(self) -> dict:
        response = self._oauth("/oauth/device/code", {"client_id": self.client_id})
        data = response.data
        if response.status_code != 200 or not isinstance(data, dict) or "device_code" not in data:
            raise TraktError(
                f"trakt did not start the device login ({response.status_code}): check the Client ID.",
                response.status_code,
            )
        return data

    def app_is_known(self) -> bool:
        """Whether trakt knows this Client ID: it starts a device login for a known app (a code that is left to
        expire, which is harmless) and answers 403 for an unknown one. Raises when trakt cannot tell us."""
        try:
            self.device_code()
        except (BadResponse, Unavailable):  # a Cloudflare page or an outage says nothing about the app
            raise
        except TraktError as exc:
            if exc.status in (401, 403):
                return False
            raise
        return True

    def probe(self, path: str, *, params: dict | None = None, token: str | None = None,
              user_agent: bool = True) -> requests.Response:
        """One GET of the API for the doctor, answered as it is: no retry, no refresh, no redirect followed, any
        status returned (the body read, within TRAKT_MAX_RESPONSE_BYTES). ``user_agent=False`` sends no
        User-Agent at all, to see whether trakt still refuses such a request. Unavailable if trakt cannot be
        reached."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if not user_agent:
            headers["User-Agent"] = SKIP_HEADER  # urllib3 then sends none, not its own
        try:
            response = self.session.get(self.api_url + path, params=params or {}, headers=headers,
                                        timeout=self.timeout, stream=True, allow_redirects=False)
            _read_body(response)
        except requests.exceptions.Timeout as exc:
            raise Unavailable(f"trakt did not answer within {self.timeout} seconds.") from exc
        except requests.exceptions.RequestException as exc:
            raise Unavailable(f"The connection to trakt failed ({type(exc).__name__}).") from exc
        self.stats.add("requests")
        return response

    def poll_device_token(self, device_code: str) -> tuple[int, dict | None]:
        """One poll: (status, token or None); the caller interprets 400/404/409/410/418/429.

        A 429 here is returned, not waited out: slowing down is the caller's job, since it owns the interval.
        """
        url = self.auth_url + "/oauth/device/token"
        payload = json.dumps({"code": device_code, "client_id": self.client_id, "client_secret": self.client_secret})
        attempt = 0
        while True:
            self.stats.add("requests")
            try:
                response = self.session.post(url, data=payload, timeout=self.timeout, stream=True)
                body = _read_body(response)
            except requests.exceptions.RequestException as exc:
                log.info("device poll: %s", type(exc).__name__)
                if attempt >= self.max_retries:
                    raise Unavailable("The connection to trakt failed while waiting for approval; try again.")
                attempt += 1
                self.sleep(self._backoff(attempt))
                continue
            status = response.status_code
            if status in RETRY_STATUSES or (_is_html(response) and status not in (404, 410)):
                if attempt >= self.max_retries:
                    raise Unavailable(f"trakt is having problems ({status}); try again later.", status)
                attempt += 1
                self.sleep(self._backoff(attempt))
                continue
            if status == 200:
                try:
                    data = codec.loads(body)
                except (ValueError, RecursionError):
                    data = None
                if not isinstance(data, dict) or not data.get("access_token"):
                    raise BadResponse("trakt's token answer was damaged; start the device login again.", status)
                return status, data
            if status == 401 and _oauth_error(body) == "invalid_client":
                raise ClientRejected("trakt rejected the app credentials (invalid client).", status)
            return status, None


def _oauth_error(body: bytes) -> str:
    """The ``error`` of an OAuth error answer ("invalid_client"), or ""."""
    try:
        data = codec.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        return ""
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def _read_body(response: requests.Response) -> bytes:
    """The whole body, refused past TRAKT_MAX_RESPONSE_BYTES (counted after decompression) before it fills memory."""
    limit = settings.TRAKT_MAX_RESPONSE_BYTES
    declared = _header_int(response, "Content-Length")
    chunks: list[bytes] = []
    size = 0
    if declared is None or declared <= limit:
        for chunk in response.iter_content(1 << 16):
            size += len(chunk)
            if size > limit:
                break
            chunks.append(chunk)
    if (declared is not None and declared > limit) or size > limit:
        response.close()
        raise BadResponse(f"trakt sent an answer larger than {limit // (1 << 20)} MB ({response.status_code}); "
                          "it was not read.", response.status_code)
    response._content = b"".join(chunks)  # what ``response.content`` would have read (requests keeps it here)
    return response._content


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _is_html(response: requests.Response) -> bool:
    content_type = response.headers.get("Content-Type", "")
    if "html" in content_type:
        return True
    return response.content[:64].lstrip().lower().startswith((b"<!doctype", b"<html"))


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return min(max(float(raw), 0.0), 600.0)
    except ValueError:
        return None


def _raise_for_api_status(response: requests.Response, path: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 401:
        raise AccessDenied("trakt refused the account's token (401) even after a refresh; connect the account again.", 401)
    if status == 423:
        raise AccountLocked("trakt has locked this account (423); sign in at trakt.tv to unlock it.", 423)
    if status == 420:
        raise LimitReached("trakt refused the write: it would pass one of the account's limits (420).", 420)
    if status == 426:
        raise Skippable("only available to trakt VIP members (426)", 426)
    if status == 404:
        raise Skippable("not found at trakt (404)", 404)
    if status == 403:
        raise TraktError("trakt refused access (403): the app may be unapproved or its Client ID wrong.", 403)
    raise TraktError(f"trakt answered {status} for {path}.", status)


def _header_int(response: requests.Response, name: str) -> int | None:
    raw = response.headers.get(name)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def parse_page(response: requests.Response, path: str, page: int) -> Page:
    items = response.data
    if not isinstance(items, list):
        raise BadResponse(f"trakt sent an unexpected answer for {path} (expected a list).", response.status_code)
    page_count = _header_int(response, "X-Pagination-Page-Count")
    return Page(
        items=items,
        page=page,
        page_count=page_count if page_count is not None else page,
        item_count=_header_int(response, "X-Pagination-Item-Count"),
    )
