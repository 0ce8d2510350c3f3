"""HTTP front of the emulator: an API host and an OAuth host, plus the Emulator class.

Both hosts are real ``ThreadingHTTPServer``s (HTTP/1.1, keep-alive) on loopback.
"""

import html
import json
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from . import dataset
from .state import FaultSpec, OAuthError, State

JSON_CT = "application/json; charset=utf-8"
HTML_CT = "text/html; charset=UTF-8"
REASONS = {412: "Precondition Failed", 418: "I'm a teapot", 420: "Enhance Your Calm", 423: "Locked",
           426: "Upgrade Required", 429: "Too Many Requests", 520: "Unknown Error", 521: "Web Server Is Down",
           522: "Connection Timed Out"}
OOB = "urn:ietf:wg:oauth:2.0:oob"


class Resp:
    __slots__ = ("status", "body", "headers", "user", "value", "close")

    def __init__(self, status, body=b"", headers=None, user=None, value=None, close=False):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.user = user
        self.value = value
        self.close = close


def json_resp(status, value, headers=None, user=None):
    h = {"Content-Type": JSON_CT}
    h.update(headers or {})
    return Resp(status, json.dumps(value, ensure_ascii=False).encode("utf-8"), h, user=user, value=value)


def empty_resp(status, content_type=JSON_CT, headers=None, user=None):
    h = {"Content-Type": content_type}
    h.update(headers or {})
    return Resp(status, b"", h, user=user)


def html_resp(status, title, body_html, headers=None):
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title></head>\n"
            "<body>\n%s\n</body></html>\n" % (html.escape(title), body_html))
    h = {"Content-Type": HTML_CT}
    h.update(headers or {})
    return Resp(status, page.encode("utf-8"), h)


def cloudflare_resp(status=403):
    ray = "%016x-CDG" % random.getrandbits(64)
    texts = {403: ("Attention Required! | Cloudflare", "Sorry, you have been blocked",
                   "You are unable to access trakt.tv"),
             520: ("trakt.tv | 520: Web server is returning an unknown error", "Web server is returning an unknown error",
                   "Error code 520"),
             521: ("trakt.tv | 521: Web server is down", "Web server is down", "Error code 521"),
             522: ("trakt.tv | 522: Connection timed out", "Connection timed out", "Error code 522")}
    title, h1, h2 = texts.get(status, ("trakt.tv | %d" % status, "Something went wrong", "Error code %d" % status))
    body = ("<div id=\"cf-wrapper\"><div id=\"cf-error-details\" class=\"cf-error-details-wrapper\">\n"
            "<h1 data-translate=\"block_headline\">%s</h1>\n<h2 class=\"cf-subheadline\">%s</h2>\n"
            "<p>This website is using a security service to protect itself from online attacks.</p>\n"
            "<div class=\"cf-footer-item\">Cloudflare Ray ID: <strong class=\"font-semibold\">%s</strong></div>\n"
            "<span>Performance &amp; security by Cloudflare</span></div></div>"
            % (html.escape(h1), html.escape(h2), ray.split("-")[0]))
    r = html_resp(status, title, body, {"CF-RAY": ray, "Cache-Control": "private, max-age=0, no-store"})
    return r


def not_found_html():
    return html_resp(404, "The page you were looking for doesn't exist (404)",
                     "<h1>404</h1><p>The page you were looking for doesn't exist.</p>")


def _error(status, error, description, headers=None, user=None):
    return json_resp(status, {"error": error, "error_description": description}, headers, user)


# =========================================================================== handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, emu, kind):
        self.emu = emu
        self.kind = kind
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def handle_error(self, request, client_address):
        if self.emu.verbose:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120

    def version_string(self):
        return "cloudflare"

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
    def _dispatch(self):
        emu = self.server.emu
        st = emu.state
        host = self.server.kind
        method = self.command
        split = urlsplit(self.path)
        path = split.path or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self._send(_error(400, "bad_request", "unreadable request body"))
            self.close_connection = True
            return
        if host == "api" and path.startswith("/_emulator/"):
            self._send(_control(emu, method, path, query, body))
            return
        started = time.monotonic()
        entry = {"method": method, "path": path, "query": query, "status": None, "user": None, "host": host,
                 "t": time.time()}
        fault = st.match_fault(host, method, path)
        kind = fault.kind if fault else None
        opts = fault.opts if fault else {}
        when = opts.get("when", "before")
        if fault:
            entry["fault"] = kind
        if kind == "reset" and when == "before":
            entry["status"] = 0
            st.record(entry)
            self._reset()
            return
        if kind == "timeout" and when == "before":
            emu._sleep(float(opts.get("seconds", 10)))
        if kind in ("status", "429", "html", "invalid_grant"):
            resp = _fault_response(kind, opts)
        else:
            try:
                resp = self._api(method, path, query, body) if host == "api" else self._auth(method, path, query, body)
            except Exception as exc:  # a bug in the emulator must still answer something
                if emu.verbose:
                    import traceback
                    traceback.print_exc()
                resp = _error(500, "emulator_error", "%s: %s" % (type(exc).__name__, exc))
            if kind == "wrong_shape":
                resp = _wrong_shape(resp, opts)
        entry["status"] = resp.status
        entry["user"] = resp.user
        if kind == "truncated":
            st.record(entry)
            self._truncated(resp, opts)
            return
        if kind == "reset":           # when="after": processed, but the answer is lost
            entry["status"] = 0
            st.record(entry)
            self._reset()
            return
        if kind == "timeout":         # when="after"
            emu._sleep(float(opts.get("seconds", 10)))
        # Latency is the server's response time: a real trakt renders pages on many machines at once, so the
        # time this one process spends rendering counts toward it instead of adding to it.
        remaining = st.latency - (time.monotonic() - started)
        if remaining > 0:
            emu._sleep(remaining)
        st.record(entry)
        self._send(resp)

    # ------------------------------------------------------------------ API host
    def _api(self, method, path, query, body):
        st = self.server.emu.state
        h = self.headers
        if not (h.get("User-Agent") or "").strip():
            return cloudflare_resp(403)
        if path == "/oauth" or path.startswith("/oauth/"):
            return not_found_html()
        if h.get("trakt-api-key") not in st.apps:
            return empty_resp(403, "text/plain; charset=utf-8")
        if (h.get("trakt-api-version") or "").strip() != "2":
            return _error(400, "bad_request", "The trakt-api-version header must be 2")
        if method in ("POST", "PUT", "PATCH"):
            ct = (h.get("Content-Type") or "").split(";")[0].strip().lower()
            if ct != "application/json":
                return _error(412, "precondition_failed", "Use application/json for the Content-Type header")
        auth = (h.get("Authorization") or "").strip()
        if not auth[:7].lower() == "bearer " or not auth[7:].strip():
            return _error(401, "invalid_token", "OAuth is required for this endpoint",
                          {"WWW-Authenticate": 'Bearer realm="trakt", error="invalid_token"'})
        user, reason = st.authenticate(auth[7:].strip())
        if user is None:
            return _error(401, "invalid_token", reason,
                          {"WWW-Authenticate": 'Bearer realm="trakt", error="invalid_token", '
                                               'error_description="%s"' % reason})
        with st.lock:
            locked = st.users[user].locked if user in st.users else True
        if locked:
            return _error(423, "locked_user", "This user account is locked. Please contact support.",
                          {"X-Account-Locked": "true"}, user=user)
        ok, rl_headers = st.check_rate(user, method)
        if not ok:
            return _error(429, "rate_limit_exceeded", "Rate limit exceeded, retry after %s seconds"
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
                return _error(400, "bad_request", "The request body is not valid JSON", rl_headers, user)
            status, value = st.serve_write(user, method, path, data)
            if status == 204:
                return empty_resp(204, headers=rl_headers, user=user)
            return json_resp(status, value, rl_headers, user)
        except dataset.NotFound as exc:
            return _error(404, "not_found", str(exc), rl_headers, user)
        except dataset.VipOnly as exc:
            return _error(426, "vip_only", str(exc), dict(rl_headers, **{"X-Upgrade-URL": "https://trakt.tv/vip"}),
                          user)
        except dataset.LimitExceeded as exc:
            return _error(420, "account_limit_exceeded", str(exc),
                          dict(rl_headers, **{"X-Upgrade-URL": "https://trakt.tv/vip",
                                              "X-Account-Limit": str(exc.limit)}), user)
        except dataset.BadRequest as exc:
            return _error(400, "bad_request", str(exc), rl_headers, user)

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
        if not (self.headers.get("User-Agent") or "").strip():
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
                return _activate_page(emu, method, query, form)
            return _authorize_page(emu, method, query, form)
        if method != "POST" or path not in ("/oauth/device/code", "/oauth/device/token", "/oauth/token",
                                            "/oauth/revoke"):
            return not_found_html()
        try:
            params = self._params(body)
        except LookupError:
            return _error(412, "precondition_failed", "Use application/json for the Content-Type header")
        except (ValueError, UnicodeDecodeError):
            return _error(400, "invalid_request", "The request body is not valid JSON")
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


# =========================================================================== faults


def _fault_response(kind, opts):
    extra = dict(opts.get("headers") or {})
    if kind == "html":
        r = cloudflare_resp(int(opts.get("status", 520)))
        r.headers.update(extra)
        return r
    if kind == "invalid_grant":
        return json_resp(int(opts.get("status", 400)),
                         {"error": "invalid_grant",
                          "error_description": opts.get("description", "The provided authorization grant is invalid, "
                                                        "expired, revoked, does not match the redirection URI used in "
                                                        "the authorization request, or was issued to another client.")},
                         extra)
    if kind == "429":
        status = 429
        ra = opts.get("retry_after", 1)
        body = opts.get("body", {"error": "rate_limit_exceeded", "error_description": "Rate limit exceeded"})
        if ra is not None:
            extra.setdefault("Retry-After", str(ra))
            extra.setdefault("X-Ratelimit", json.dumps({"name": "AUTHED_API_GET_LIMIT", "period": 300,
                                                        "limit": 1000, "remaining": 0,
                                                        "until": dataset.iso(time.time() + float(ra))},
                                                       separators=(",", ":")))
    else:  # "status"
        status = int(opts.get("status", 500))
        body = opts.get("body")
        if opts.get("retry_after") is not None:
            extra.setdefault("Retry-After", str(opts["retry_after"]))
    ct = opts.get("content_type")
    if body is None:
        raw = b""
        ct = ct or "text/plain; charset=utf-8"
    elif isinstance(body, (bytes, bytearray)):
        raw = bytes(body)
        ct = ct or "application/octet-stream"
    elif isinstance(body, str):
        raw = body.encode("utf-8")
        ct = ct or "text/plain; charset=utf-8"
    else:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        ct = ct or JSON_CT
    extra["Content-Type"] = ct
    return Resp(status, raw, extra)


def _wrong_shape(resp, opts):
    """A 2xx answer becomes a valid JSON value of the wrong type; errors pass through unchanged."""
    if not 200 <= resp.status < 300:
        return resp
    if "value" in opts:
        value = opts["value"]
    else:
        try:
            orig = json.loads(resp.body.decode("utf-8")) if resp.body else None
        except ValueError:
            orig = None
        if isinstance(orig, list):
            value = {"items": orig, "count": len(orig)} if orig else {}
        elif isinstance(orig, dict):
            value = [orig]
        else:
            value = {"unexpected": True}
    headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-type"}
    return json_resp(200 if resp.status == 204 else resp.status, value, headers, resp.user)


# =========================================================================== HTML pages


def _page_form(title, inner):
    return html_resp(200, title, "<h1>%s</h1>\n%s" % (html.escape(title), inner))


def _activate_page(emu, method, query, form):
    st = emu.state
    if method == "GET":
        code = query.get("code") or query.get("user_code") or ""
        return _page_form("Activate your device",
                          "<form method=\"post\" action=\"/activate\">\n"
                          "<label>Code <input id=\"user_code\" name=\"user_code\" value=\"%s\" maxlength=\"9\"></label>\n"
                          "<label>Username <input id=\"username\" name=\"username\"></label>\n"
                          "<button type=\"submit\" id=\"approve\" name=\"decision\" value=\"approve\">Approve</button>\n"
                          "<button type=\"submit\" id=\"deny\" name=\"decision\" value=\"deny\">Deny</button>\n"
                          "</form>" % html.escape(code))
    if method != "POST":
        return not_found_html()
    code = form.get("user_code", "")
    try:
        if form.get("decision") == "deny":
            st.deny_device(code)
            return _page_form("Device denied", "<p id=\"result\">denied</p>")
        st.approve_device(code, form.get("username", ""))
        return _page_form("Device approved", "<p id=\"result\">approved</p><p>You can close this window.</p>")
    except KeyError as exc:
        r = _page_form("Invalid code", "<p id=\"error\">%s</p>" % html.escape(str(exc)))
        r.status = 404
        return r
    except ValueError as exc:
        r = _page_form("Code expired or used", "<p id=\"error\">%s</p>" % html.escape(str(exc)))
        r.status = 410
        return r


def _authorize_page(emu, method, query, form):
    st = emu.state
    params = dict(query)
    params.update(form)
    client_id = params.get("client_id")
    redirect_uri = params.get("redirect_uri")
    with st.lock:
        app = st.apps.get(client_id)
    if app is None:
        return html_resp(400, "Invalid client", "<h1>Client authentication failed</h1>"
                         "<p id=\"error\">invalid_client: unknown client_id</p>")
    if redirect_uri not in app.redirect_uris:
        return html_resp(400, "Invalid redirect URI", "<h1>The redirect uri included is not valid.</h1>"
                         "<p id=\"error\">invalid_redirect_uri</p>")
    if params.get("response_type") != "code":
        return html_resp(400, "Unsupported response type", "<p id=\"error\">unsupported_response_type</p>")
    challenge = params.get("code_challenge") or None
    cmethod = params.get("code_challenge_method") or None
    if cmethod not in (None, "S256", "plain"):
        return html_resp(400, "Invalid request", "<p id=\"error\">unsupported code_challenge_method</p>")
    keys = ("response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method")
    error = ""
    if method == "POST":
        state_param = params.get("state")
        if params.get("decision") == "deny":
            if redirect_uri == OOB:
                return _page_form("Authorization denied", "<p id=\"result\">denied</p>")
            q = {"error": "access_denied", "error_description": "The resource owner denied the request."}
            if state_param is not None:
                q["state"] = state_param
            return Resp(302, b"", {"Location": _add_query(redirect_uri, q), "Content-Type": HTML_CT})
        username = params.get("username", "")
        try:
            code = st.issue_code(username, redirect_uri, challenge, cmethod, client_id=client_id)
        except KeyError:
            error = "<p id=\"error\">Unknown username %s</p>" % html.escape(username)
        else:
            if redirect_uri == OOB:
                return _page_form("Authorization code",
                                  "<p>Copy this code and paste it into the application:</p>\n"
                                  "<code id=\"code\">%s</code>" % code)
            q = {"code": code}
            if state_param is not None:
                q["state"] = state_param
            return Resp(302, b"", {"Location": _add_query(redirect_uri, q), "Content-Type": HTML_CT})
    elif method != "GET":
        return not_found_html()
    hidden = "".join("<input type=\"hidden\" name=\"%s\" value=\"%s\">\n" % (k, html.escape(params[k]))
                     for k in keys if params.get(k) is not None)
    r = _page_form("Authorize application",
                   "%s<form method=\"post\" action=\"/oauth/authorize\">\n%s"
                   "<label>Username <input id=\"username\" name=\"username\"></label>\n"
                   "<button type=\"submit\" id=\"authorize\" name=\"decision\" value=\"approve\">Authorize</button>\n"
                   "<button type=\"submit\" id=\"deny\" name=\"decision\" value=\"deny\">Deny</button>\n"
                   "</form>" % (error, hidden))
    if error:
        r.status = 400
    return r


def _add_query(url, params):
    sep = "&" if "?" in url else "?"
    return url + sep + urlencode(params)


# =========================================================================== control API


def _control(emu, method, path, query, body):
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return _error(400, "bad_request", "invalid JSON")
    if not isinstance(data, dict):
        return _error(400, "bad_request", "JSON object expected")
    parts = [unquote(p) for p in path[len("/_emulator/"):].strip("/").split("/")]
    route = (method, parts[0] if parts else "")
    try:
        if route == ("POST", "users") and len(parts) == 1:
            info = emu.add_user(data["username"], profile=data.get("profile", "small"), seed=data.get("seed"),
                                vip=data.get("vip", False), locked=data.get("locked", False),
                                sizes=data.get("sizes"))
            return json_resp(201, info)
        if route == ("GET", "users") and len(parts) == 1:
            with emu.state.lock:
                names = list(emu.state.users)
            return json_resp(200, [emu.state.user_info(n) for n in names])
        if route == ("GET", "users") and len(parts) == 3 and parts[2] == "data":
            return json_resp(200, emu.user_data(parts[1]))
        if route == ("GET", "users") and len(parts) == 2:
            return json_resp(200, emu.state.user_info(parts[1]))
        if route == ("POST", "user_flags"):
            emu.state.set_user_flags(data["username"], vip=data.get("vip"), locked=data.get("locked"))
            return json_resp(200, emu.state.user_info(data["username"]))
        if route == ("POST", "grant"):
            return json_resp(200, emu.grant(data["username"]))
        if route == ("POST", "code"):
            return json_resp(200, {"code": emu.issue_code(data["username"], data.get("redirect_uri", OOB),
                                                          data.get("code_challenge"))})
        if route == ("POST", "device") and parts[1:] == ["approve"]:
            emu.approve_device(data["user_code"], data["username"])
            return json_resp(200, {"ok": True})
        if route == ("POST", "device") and parts[1:] == ["deny"]:
            emu.deny_device(data["user_code"])
            return json_resp(200, {"ok": True})
        if route == ("POST", "expire"):
            return json_resp(200, {"expired": emu.expire_access_tokens(data["username"])})
        if route == ("POST", "revoke"):
            return json_resp(200, {"revoked": emu.revoke_grants(data["username"])})
        if route == ("POST", "plays"):
            return json_resp(200, emu.add_plays(data["username"], int(data.get("n", 1))))
        if route == ("POST", "remove"):
            return json_resp(200, {"removed": emu.remove_history_item(data["username"], data["id"])})
        if route == ("POST", "faults"):
            spec = dict(data)
            kind = spec.pop("kind", None) or spec.pop("fault", None)
            f = emu.inject(kind, **spec)
            return json_resp(201, f.to_dict())
        if route == ("GET", "faults"):
            with emu.state.lock:
                return json_resp(200, [f.to_dict() for f in emu.state.faults])
        if route == ("DELETE", "faults"):
            emu.clear_faults()
            return json_resp(200, {"ok": True})
        if route == ("POST", "config"):
            if "latency" in data:
                emu.set_latency(float(data["latency"]))
            if "token_lifetime" in data:
                emu.set_token_lifetime(data["token_lifetime"])
            if "rate_limit" in data:
                emu.set_rate_limit(*data["rate_limit"])
            if "write_rate_limit" in data:
                with emu.state.lock:
                    emu.state.write_rate_limit = (int(data["write_rate_limit"][0]), float(data["write_rate_limit"][1]))
            for key in ("device_expires_in", "device_interval", "code_lifetime", "revoke_old_access_on_refresh"):
                if key in data:
                    setattr(emu, key, data[key])
            if "advance_clock" in data:
                emu.advance_clock(float(data["advance_clock"]))
            return json_resp(200, emu.config())
        if route == ("GET", "config"):
            return json_resp(200, emu.config())
        if route == ("GET", "stats"):
            return json_resp(200, emu.stats())
        if route == ("GET", "requests"):
            return json_resp(200, emu.requests)
        if route == ("POST", "reset_log"):
            emu.reset_log()
            return json_resp(200, {"ok": True})
    except KeyError as exc:
        return _error(404, "not_found", str(exc.args[0] if exc.args else exc))
    except (ValueError, TypeError) as exc:
        return _error(400, "bad_request", str(exc))
    return _error(404, "not_found", "unknown control endpoint %s %s" % (method, path))


# =========================================================================== Emulator


class Emulator:
    """A fake api.trakt.tv + auth.trakt.tv on loopback.  See the package docstring."""

    def __init__(self, client_id="emulator-client-id", client_secret="emulator-client-secret",
                 redirect_uris=(OOB, "http://testserver/callback"), token_lifetime=86400, latency=0.0,
                 rate_limit=(1000, 300), write_rate_limit=(1, 1.0), host="127.0.0.1", api_port=0, auth_port=0,
                 device_expires_in=600, device_interval=5, code_lifetime=600, revoke_old_access_on_refresh=False,
                 verbose=False):
        self.state = State(client_id, client_secret, list(redirect_uris), token_lifetime=token_lifetime,
                           latency=latency, rate_limit=rate_limit, write_rate_limit=write_rate_limit,
                           device_expires_in=device_expires_in, device_interval=device_interval,
                           code_lifetime=code_lifetime, revoke_old_access_on_refresh=revoke_old_access_on_refresh)
        self.client_id = client_id
        self.client_secret = client_secret
        self.host = host
        self.api_port = api_port
        self.auth_port = auth_port
        self.verbose = verbose
        self.api_url = None
        self.auth_url = None
        self._servers = []
        self._threads = []
        self._stop_event = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        if self._servers:
            return self
        self._stop_event = threading.Event()
        api = _Server((self.host, self.api_port), self, "api")
        try:
            auth = _Server((self.host, self.auth_port), self, "auth")
        except OSError:
            api.server_close()
            raise
        self._servers = [api, auth]
        self.api_url = "http://%s:%d" % (self.host, api.server_address[1])
        self.auth_url = "http://%s:%d" % (self.host, auth.server_address[1])
        for srv in self._servers:
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                 name="trakt-emulator-%s" % srv.kind, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self._stop_event.set()
        servers, self._servers = self._servers, []
        stoppers = [threading.Thread(target=srv.shutdown, daemon=True) for srv in servers]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(timeout=5)
        for srv in servers:
            srv.server_close()
            with srv.conns_lock:
                conns = list(srv.conns)
            for c in conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _sleep(self, seconds):
        if seconds > 0:
            self._stop_event.wait(seconds)

    # ------------------------------------------------------------------ config
    @property
    def latency(self):
        return self.state.latency

    def set_latency(self, seconds):
        with self.state.lock:
            self.state.latency = float(seconds)

    @property
    def token_lifetime(self):
        return self.state.token_lifetime

    def set_token_lifetime(self, seconds):
        with self.state.lock:
            self.state.token_lifetime = seconds

    @property
    def rate_limit(self):
        return self.state.rate_limit

    def set_rate_limit(self, limit, period_seconds):
        self.state.set_rate_limit(limit, period_seconds)

    def set_write_rate_limit(self, limit, period_seconds):
        with self.state.lock:
            self.state.write_rate_limit = (int(limit), float(period_seconds))

    def _cfg_prop(name):  # noqa: N805 - helper building properties
        def get(self):
            return getattr(self.state, name)

        def set_(self, value):
            with self.state.lock:
                setattr(self.state, name, value)
        return property(get, set_)

    device_expires_in = _cfg_prop("device_expires_in")
    device_interval = _cfg_prop("device_interval")
    code_lifetime = _cfg_prop("code_lifetime")
    revoke_old_access_on_refresh = _cfg_prop("revoke_old_access_on_refresh")
    del _cfg_prop

    def advance_clock(self, seconds):
        """Move the emulator's clock (token, code and device-code expiry) forward."""
        self.state.advance_clock(seconds)

    def config(self):
        st = self.state
        with st.lock:
            return {"api_url": self.api_url, "auth_url": self.auth_url, "client_id": self.client_id,
                    "latency": st.latency, "token_lifetime": st.token_lifetime, "rate_limit": list(st.rate_limit),
                    "write_rate_limit": list(st.write_rate_limit), "device_expires_in": st.device_expires_in,
                    "device_interval": st.device_interval, "code_lifetime": st.code_lifetime,
                    "revoke_old_access_on_refresh": st.revoke_old_access_on_refresh,
                    "clock_offset": st.clock_offset}

    # ------------------------------------------------------------------ users & data
    def add_app(self, client_id, client_secret, redirect_uris=(OOB,)):
        self.state.add_app(client_id, client_secret, list(redirect_uris))

    def add_user(self, username, profile="small", seed=None, vip=False, locked=False, sizes=None):
        """Create a user; returns {"username","slug","uuid","trakt",...}."""
        return self.state.add_user(username, profile=profile, seed=seed, vip=vip, locked=locked, sizes=sizes)

    def user_info(self, username):
        return self.state.user_info(username)

    def set_user(self, username, vip=None, locked=None):
        self.state.set_user_flags(username, vip=vip, locked=locked)

    def user_data(self, username):
        return self.state.user_data(username)

    def add_plays(self, username, n):
        return self.state.add_plays(username, n)

    def remove_history_item(self, username, item_id):
        return self.state.remove_history_item(username, item_id)

    # ------------------------------------------------------------------ auth helpers
    def grant(self, username, client_id=None):
        return self.state.grant(username, client_id)

    def issue_code(self, username, redirect_uri=OOB, code_challenge=None, code_challenge_method=None,
                   client_id=None):
        return self.state.issue_code(username, redirect_uri, code_challenge, code_challenge_method, client_id)

    def approve_device(self, user_code, username):
        self.state.approve_device(user_code, username)

    def deny_device(self, user_code):
        self.state.deny_device(user_code)

    def expire_access_tokens(self, username):
        return self.state.expire_access_tokens(username)

    def revoke_grants(self, username):
        return self.state.revoke_grants(username)

    # ------------------------------------------------------------------ faults
    def inject(self, fault, path=None, method=None, after=0, times=1, host=None, **opts):
        """Make the next `times` requests matching `path` (regex) / `method` / `host` fail with `fault`.
        Returns the FaultSpec (attributes fired/skipped, method cancel())."""
        return self.state.add_fault(FaultSpec(fault, path=path, method=method, host=host, after=after,
                                              times=times, **opts))

    def clear_faults(self):
        self.state.clear_faults()

    # ------------------------------------------------------------------ log
    @property
    def requests(self):
        return self.state.requests()

    def count(self, path_regex=None, method=None, host=None, status=None):
        return self.state.count(path_regex, method, host, status)

    def reset_log(self):
        self.state.reset_log()

    def stats(self):
        return self.state.stats()
