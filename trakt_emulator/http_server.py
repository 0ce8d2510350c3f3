"""The HTTP side: one threaded HTTP/1.1 server per host ("api", "auth") and its request handler.

The handler applies faults and latency around the two hosts: the API host (headers, auth,
rate limits, then a read or a write) and the OAuth host (JSON endpoints and HTML pages).
"""

import json
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import errors
from .control import handle_control
from .oauth import OAuthError
from .pages import activate_page, authorize_page
from .responses import (JSON_CT, REASONS, Resp, cloudflare_resp, empty_resp, error_resp, fault_response,
                        html_resp, json_resp, not_found_html, without_headers, wrong_shape)


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, emu, kind):
        self.emu = emu
        self.kind = kind
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, RequestHandler)

    def handleerror_resp(self, request, client_address):
        if self.emu.verbose:
            super().handleerror_resp(request, client_address)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120

    def version_string(self):
        return "cloudflare"

    def date_time_string(self, timestamp=None):
        """The Date header, off by the `date_offset` knob: trakt's clock as a machine with a wrong clock sees it."""
        if timestamp is None:
            timestamp = time.time() + self.server.emu.state.date_offset
        return super().date_time_string(timestamp)

    def setup(self):
        super().setup()
        try:  # headers and body go out in separate writes: no Nagle / delayed-ACK stalls
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self.server.conns_lock:
            self.server.conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            with self.server.conns_lock:
                self.server.conns.discard(self.connection)

    def parse_request(self):
        # The request line is in: the request has arrived. Its response time (the latency) and its time in
        # flight count from here, so that reading its headers counts toward the latency, as rendering does.
        self.arrived = time.monotonic()
        return super().parse_request()

    def log_message(self, fmt, *args):
        if self.server.emu.verbose:
            sys.stderr.write("[trakt-emulator %s] %s - %s\n" % (self.server.kind, self.address_string(), fmt % args))

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # ------------------------------------------------------------------ plumbing
    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, resp):
        try:
            self.send_response(resp.status, REASONS.get(resp.status))
            for k, v in resp.headers.items():
                self.send_header(k, v)
            if resp.status != 204 and resp.status >= 200:
                self.send_header("Content-Length", str(len(resp.body)))
            if resp.close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD" and resp.body and resp.status != 204:
                self.wfile.write(resp.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _reset(self):
        """Abort the connection: RST, no response at all."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def _truncated(self, resp, opts):
        body = resp.body
        if len(body) < 16:
            body = json.dumps([{"id": i, "truncated": True} for i in range(20)]).encode()
        cut = int(opts.get("bytes", len(body) // 2))
        cut = max(0, min(cut, len(body) - 1))
        declared = int(opts.get("declared", len(body)))
        self.close_connection = True
        try:
            self.send_response(resp.status, REASONS.get(resp.status))
            for k, v in resp.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(max(declared, cut + 1)))
            self.end_headers()
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self) -> None:
        emu = self.server.emu
        host = self.server.kind
        split = urlsplit(self.path)
        path = split.path or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self._send(error_resp(400, "bad_request", "unreadable request body"))
            self.close_connection = True
            return
        if host == "api" and path.startswith("/_emulator/"):
            self._send(handle_control(emu, self.command, path, query, body))
            return
        started = self.arrived
        entry = {"method": self.command, "path": path, "query": query, "status": None, "user": None, "host": host,
                 "t": time.time()}
        fault = emu.state.match_fault(host, self.command, path)
        if fault:
            entry["fault"] = fault.kind
        self.flight = emu.state.flight.begin(started) if host == "api" else None  # the data requests of a pool
        try:
            self._serve(entry, fault, query, body, started)
        finally:
            self._land()

    def _land(self) -> None:
        if getattr(self, "flight", None) is not None:
            self.flight.land()

    def _serve(self, entry: dict, fault, query: dict, body: bytes, started: float) -> None:
        """Answer one logged request, with its fault (if any) before or after the real work."""
        emu = self.server.emu
        kind = fault.kind if fault else None
        opts = fault.opts if fault else {}
        before = opts.get("when", "before") == "before"
        if kind == "reset" and before:
            return self._record_and_reset(entry)
        if kind == "timeout" and before:
            emu._sleep(float(opts.get("seconds", 10)))
        if kind in ("status", "429", "html", "invalid_grant"):
            resp = fault_response(kind, opts)
        else:
            resp = self._answer(entry["path"], query, body)
            if kind == "wrong_shape":
                resp = wrong_shape(resp, opts)
            elif kind == "drop_headers":
                resp = without_headers(resp, opts)
        entry["status"] = resp.status
        entry["user"] = resp.user
        if kind == "truncated":
            emu.state.record(entry)
            return self._truncated(resp, opts)
        if kind == "reset":           # when="after": processed, but the answer is lost
            return self._record_and_reset(entry)
        if kind == "timeout":         # when="after"
            emu._sleep(float(opts.get("seconds", 10)))
        # Latency is the server's response time: a real trakt renders pages on many machines at once, so the
        # time this one process spends rendering counts toward it instead of adding to it.
        rendered = time.monotonic() - started
        entry["render_seconds"] = round(rendered, 4)
        remaining = emu.state.latency - rendered
        if remaining > 0:
            emu._sleep(remaining)
        entry["seconds"] = round(time.monotonic() - started, 4)
        emu.state.record(entry)
        self._land()
        self._send(resp)

    def _record_and_reset(self, entry: dict) -> None:
        entry["status"] = 0
        self.server.emu.state.record(entry)
        self._reset()

    def _answer(self, path: str, query: dict, body: bytes) -> Resp:
        method = self.command
        try:
            if self.server.kind == "api":
                return self._api(method, path, query, body)
            return self._auth(method, path, query, body)
        except Exception as exc:  # a bug in the emulator must still answer something
            if self.server.emu.verbose:
                import traceback
                traceback.print_exc()
            return error_resp(500, "emulator_error", "%s: %s" % (type(exc).__name__, exc))

    # ------------------------------------------------------------------ API host
    def _api(self, method: str, path: str, query: dict, body: bytes) -> Resp:
        rejected = self._check_api_headers(method, path)
        if rejected is not None:
            return rejected
        user, refused = self._authenticated_user()
        if refused is not None:
            return refused
        st = self.server.emu.state
        ok, rl_headers = st.check_rate(user, method)
        if not ok:
            return error_resp(429, "rate_limit_exceeded", "Rate limit exceeded, retry after %s seconds"
                              % rl_headers["Retry-After"], rl_headers, user=user)
        try:
            if method in ("GET", "HEAD"):
                status, headers, value, payload = st.serve_get(user, path, query)
                headers.update(rl_headers)
                headers["Content-Type"] = JSON_CT
                headers["Cache-Control"] = "private, max-age=0, must-revalidate"
                return Resp(status, payload, headers, user=user, value=value)
            try:
                data = json.loads(body.decode("utf-8")) if body else {}
            except (ValueError, UnicodeDecodeError):
                return error_resp(400, "bad_request", "The request body is not valid JSON", rl_headers, user)
            status, value = st.serve_write(user, method, path, data)
            if status == 204:
                return empty_resp(204, headers=rl_headers, user=user)
            return json_resp(status, value, rl_headers, user)
        except (errors.NotFound, errors.VipOnly, errors.LimitExceeded, errors.BadRequest) as exc:
            return _data_error(exc, rl_headers, user)

    def _check_api_headers(self, method: str, path: str):
        """The answer for a request trakt refuses before looking at the token, or None."""
        headers = self.headers
        if self._refused_for_user_agent():
            return cloudflare_resp(403)
        if path == "/oauth" or path.startswith("/oauth/"):
            return not_found_html()
        if headers.get("trakt-api-key") not in self.server.emu.state.apps:
            return empty_resp(403, "text/plain; charset=utf-8")
        if (headers.get("trakt-api-version") or "").strip() != "2":
            return error_resp(400, "bad_request", "The trakt-api-version header must be 2")
        if method in ("POST", "PUT", "PATCH"):
            content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type != "application/json":
                return error_resp(412, "precondition_failed", "Use application/json for the Content-Type header")
        return None

    def _refused_for_user_agent(self) -> bool:
        """Cloudflare blocks a request without a User-Agent (unless the `require_user_agent` knob is off)."""
        return self.server.emu.state.require_user_agent and not (self.headers.get("User-Agent") or "").strip()

    def _authenticated_user(self) -> tuple:
        """(username, None), or (None or username, the 401/423 answer)."""
        st = self.server.emu.state
        auth = (self.headers.get("Authorization") or "").strip()
        if not auth[:7].lower() == "bearer " or not auth[7:].strip():
            return None, error_resp(401, "invalid_token", "OAuth is required for this endpoint",
                                    {"WWW-Authenticate": 'Bearer realm="trakt", error="invalid_token"'})
        user, reason = st.authenticate(auth[7:].strip())
        if user is None:
            return None, error_resp(401, "invalid_token", reason,
                                    {"WWW-Authenticate": 'Bearer realm="trakt", error="invalid_token", '
                                                         'error_description="%s"' % reason})
        with st.lock:
            locked = st.users[user].locked if user in st.users else True
        if locked:
            return user, error_resp(423, "locked_user", "This user account is locked. Please contact support.",
                                    {"X-Account-Locked": "true"}, user=user)
        return user, None

    # ------------------------------------------------------------------ OAuth host
    def _params(self, body):
        ct = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ct == "application/json":
            v = json.loads(body.decode("utf-8")) if body.strip() else {}
            if not isinstance(v, dict):
                raise ValueError("JSON object expected")
            return {k: (x if isinstance(x, str) or x is None else str(x)) for k, x in v.items()}
        if ct == "application/x-www-form-urlencoded":
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        raise LookupError(ct)

    def _auth(self, method, path, query, body):
        emu = self.server.emu
        st = emu.state
        if self._refused_for_user_agent():
            return cloudflare_resp(403)
        if path in ("/oauth/authorize", "/activate") or (path == "/" and method == "GET"):
            try:
                form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)) if method == "POST" else {}
            except UnicodeDecodeError:
                form = {}
            if path == "/":
                return html_resp(200, "Trakt emulator (auth)", "<p>trakt emulator OAuth host. "
                                 "<a href=\"/activate\">Activate a device</a></p>")
            if path == "/activate":
                return activate_page(emu, method, query, form)
            return authorize_page(emu, method, query, form)
        if method != "POST" or path not in ("/oauth/device/code", "/oauth/device/token", "/oauth/token",
                                            "/oauth/revoke"):
            return not_found_html()
        try:
            params = self._params(body)
        except LookupError:
            return error_resp(412, "precondition_failed", "Use application/json for the Content-Type header")
        except (ValueError, UnicodeDecodeError):
            return error_resp(400, "invalid_request", "The request body is not valid JSON")
        no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        try:
            if path == "/oauth/device/code":
                return json_resp(200, st.device_code(params.get("client_id"), emu.auth_url + "/activate"), no_store)
            if path == "/oauth/device/token":
                token, user = st.device_token(params)
                return json_resp(200, token, no_store, user=user)
            if path == "/oauth/token":
                token, user = st.token_request(params)
                return json_resp(200, token, no_store, user=user)
            user = st.revoke_token(params)
            return empty_resp(200, user=user)
        except OAuthError as exc:
            if exc.body is None:
                return empty_resp(exc.status, headers=no_store)
            return json_resp(exc.status, exc.body, no_store)


def _data_error(exc: Exception, rl_headers: dict, user: str) -> Resp:
    """A read or write error -> trakt's answer for it."""
    if isinstance(exc, errors.NotFound):
        return error_resp(404, "not_found", str(exc), rl_headers, user)
    if isinstance(exc, errors.VipOnly):
        return error_resp(426, "vip_only", str(exc), dict(rl_headers, **{"X-Upgrade-URL": "https://trakt.tv/vip"}),
                          user)
    if isinstance(exc, errors.LimitExceeded):
        return error_resp(420, "account_limit_exceeded", str(exc),
                          dict(rl_headers, **{"X-Upgrade-URL": "https://trakt.tv/vip",
                                              "X-Account-Limit": str(exc.limit)}), user)
    return error_resp(400, "bad_request", str(exc), rl_headers, user)
