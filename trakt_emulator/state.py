"""All mutable emulator state, guarded by one lock.

Apps, users, OAuth grants/tokens/codes, device codes, rate-limit windows, the
request log and injected faults live here.  Both the Python API (Emulator) and
the HTTP control API (/_emulator/...) call these methods: there is a single
implementation of every operation.
"""

import base64
import hashlib
import itertools
import json
import math
import re
import secrets
import threading
import time
from collections import deque

from . import dataset
from .dataset import UserData, iso, slugify, stable_int


class App:
    def __init__(self, client_id, client_secret, redirect_uris):
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris)


class Grant:
    """One authorization (one OAuth code or device approval).  Every token refreshed from it
    belongs to the same family; killing the grant kills them all."""
    __slots__ = ("id", "username", "client_id", "alive", "created")

    def __init__(self, gid, username, client_id, created):
        self.id = gid
        self.username = username
        self.client_id = client_id
        self.alive = True
        self.created = created


class AccessToken:
    __slots__ = ("token", "grant", "created", "expires_at", "revoked")

    def __init__(self, token, grant, created, expires_at):
        self.token = token
        self.grant = grant
        self.created = created
        self.expires_at = expires_at
        self.revoked = False


class RefreshToken:
    __slots__ = ("token", "grant", "used", "access")

    def __init__(self, token, grant, access):
        self.token = token
        self.grant = grant
        self.used = False
        self.access = access


class AuthCode:
    __slots__ = ("code", "username", "client_id", "redirect_uri", "challenge", "method", "created", "used")

    def __init__(self, code, username, client_id, redirect_uri, challenge, method, created):
        self.code = code
        self.username = username
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.challenge = challenge
        self.method = method
        self.created = created
        self.used = False


class DeviceCode:
    __slots__ = ("device_code", "user_code", "client_id", "created", "expires_in", "interval", "last_poll",
                 "status", "username")

    def __init__(self, device_code, user_code, client_id, created, expires_in, interval):
        self.device_code = device_code
        self.user_code = user_code
        self.client_id = client_id
        self.created = created
        self.expires_in = expires_in
        self.interval = interval
        self.last_poll = None
        self.status = "pending"     # pending | approved | denied | used
        self.username = None


FAULT_KINDS = ("status", "429", "html", "reset", "timeout", "truncated", "wrong_shape", "invalid_grant")


class FaultSpec:
    """An injected fault: the next `times` requests matching (after skipping `after` matches) get it.

    `path` is a regex searched in the request path (no query string); `method` and `host`
    ("api" / "auth") restrict further; `times=None` means forever.  Attributes `skipped` and
    `fired` count what happened; `cancel()` removes it."""

    _ids = itertools.count(1)

    def __init__(self, kind, path=None, method=None, host=None, after=0, times=1, **opts):
        if kind not in FAULT_KINDS:
            raise ValueError("unknown fault kind %r (one of %s)" % (kind, ", ".join(FAULT_KINDS)))
        if host not in (None, "api", "auth"):
            raise ValueError("host must be 'api', 'auth' or None")
        self.id = next(FaultSpec._ids)
        self.kind = kind
        self.path = path
        self._rx = re.compile(path) if path else None
        self.method = method.upper() if method else None
        self.host = host
        self.after = int(after or 0)
        self.times = None if times is None else int(times)
        self.opts = opts
        self.skipped = 0
        self.fired = 0
        self._state = None

    def matches(self, host, method, path):
        if self.host and self.host != host:
            return False
        if self.method and self.method != method:
            return False
        return self._rx is None or self._rx.search(path) is not None

    @property
    def exhausted(self):
        return self.times is not None and self.fired >= self.times

    def cancel(self):
        if self._state is not None:
            self._state.remove_fault(self)

    def to_dict(self):
        return {"id": self.id, "kind": self.kind, "path": self.path, "method": self.method, "host": self.host,
                "after": self.after, "times": self.times, "skipped": self.skipped, "fired": self.fired,
                "opts": {k: v for k, v in self.opts.items() if isinstance(v, (str, int, float, bool, type(None),
                                                                              list, dict))}}

    def __repr__(self):
        return "<FaultSpec #%d %s path=%r fired=%d/%s>" % (self.id, self.kind, self.path, self.fired, self.times)


class OAuthError(Exception):
    """-> HTTP status + JSON body (or empty body when body is None)."""

    def __init__(self, status, error=None, description=None):
        super().__init__(description or error or str(status))
        self.status = status
        self.body = None if error is None else {"error": error, "error_description": description or error}


class State:
    def __init__(self, client_id, client_secret, redirect_uris, token_lifetime=86400, latency=0.0,
                 rate_limit=(1000, 300), write_rate_limit=(1, 1.0), device_expires_in=600, device_interval=5,
                 code_lifetime=600, revoke_old_access_on_refresh=False):
        self.lock = threading.RLock()
        self.apps = {client_id: App(client_id, client_secret, redirect_uris)}
        self.default_client_id = client_id
        self.users = {}          # username -> UserData
        self.slugs = {}          # slug -> username
        self.grants = {}
        self.access = {}         # token -> AccessToken
        self.refresh = {}        # token -> RefreshToken
        self.codes = {}          # code -> AuthCode
        self.devices = {}        # device_code -> DeviceCode
        self.user_codes = {}     # user_code -> device_code
        self.get_windows = {}    # username -> deque of GET times
        self.write_windows = {}  # username -> deque of write times
        self.log = []
        self.faults = []
        self.counters = {"refreshes": 0, "refresh_failures": 0, "rate_limited": 0, "tokens_issued": 0,
                         "family_kills": 0}
        self.token_lifetime = token_lifetime
        self.latency = float(latency)
        self.rate_limit = (int(rate_limit[0]), float(rate_limit[1]))
        self.write_rate_limit = (int(write_rate_limit[0]), float(write_rate_limit[1]))
        self.device_expires_in = device_expires_in
        self.device_interval = device_interval
        self.code_lifetime = code_lifetime
        self.revoke_old_access_on_refresh = revoke_old_access_on_refresh
        self.clock_offset = 0.0
        self._grant_ids = 0

    # ------------------------------------------------------------------ clock
    def now(self):
        return time.time() + self.clock_offset

    def advance_clock(self, seconds):
        """Move time forward: token and code expiry, and the rate-limit windows (requests age too)."""
        with self.lock:
            self.clock_offset += float(seconds)
            for windows in (self.get_windows, self.write_windows):
                for name, win in windows.items():
                    windows[name] = deque(t - float(seconds) for t in win)

    # ------------------------------------------------------------------ apps & users
    def add_app(self, client_id, client_secret, redirect_uris):
        with self.lock:
            self.apps[client_id] = App(client_id, client_secret, redirect_uris)

    def add_user(self, username, profile="small", seed=None, vip=False, locked=False, sizes=None):
        if not isinstance(username, str) or not username:
            raise ValueError("username must be a non-empty string")
        with self.lock:
            if username in self.users:
                raise ValueError("user %r already exists" % username)
            base = slugify(username, "user-%d" % (stable_int(username) % 100000))
            slug, k = base, 2
            while slug in self.slugs or slug in ("me", "settings", "hidden", "requests", "blocked",
                                                  "saved_filters", "likes"):
                slug, k = "%s-%d" % (base, k), k + 1
            self.slugs[slug] = username
        try:
            ud = UserData(username, slug, profile=profile, seed=seed, sizes=sizes, vip=vip, locked=locked)
        except Exception:
            with self.lock:
                self.slugs.pop(slug, None)
            raise
        with self.lock:
            self.users[username] = ud
        return self.user_info(username)

    def _user(self, username):
        ud = self.users.get(username)
        if ud is None:
            raise KeyError("unknown user %r" % username)
        return ud

    def user_info(self, username):
        with self.lock:
            ud = self._user(username)
            return {"username": ud.username, "slug": ud.slug, "uuid": ud.uuid, "trakt": ud.trakt_id,
                    "profile": ud.profile, "seed": ud.seed, "vip": ud.vip, "locked": ud.locked,
                    "history": len(ud.history), "lists": [l["trakt"] for l in ud.lists],
                    "generation_seconds": round(ud.generation_seconds, 3)}

    def set_user_flags(self, username, vip=None, locked=None):
        with self.lock:
            ud = self._user(username)
            if vip is not None:
                ud.vip = bool(vip)
            if locked is not None:
                ud.locked = bool(locked)
            ud.bump(self.now(), "account.settings_at")

    def user_data(self, username):
        with self.lock:
            data = dataset.full_data(self._user(username))
            # serialise under the lock so the caller gets a private, JSON-exact copy
            blob = json.dumps(data, ensure_ascii=False)
        return json.loads(blob)

    def add_plays(self, username, n):
        with self.lock:
            return self._user(username).add_plays(int(n), self.now())

    def remove_history_item(self, username, item_id):
        item_id = int(item_id)
        with self.lock:
            removed = self._user(username).remove_history(lambda r: r[0] == item_id, self.now())
            if not removed:
                raise KeyError("no history item %r" % item_id)
            return len(removed)

    # ------------------------------------------------------------------ tokens
    def _new_grant(self, username, client_id):
        self._grant_ids += 1
        g = Grant(self._grant_ids, username, client_id, self.now())
        self.grants[g.id] = g
        return g

    def _issue(self, grant):
        now = self.now()
        lifetime = self.token_lifetime
        at = AccessToken(secrets.token_hex(32), grant, now, now + lifetime)
        rt = RefreshToken(secrets.token_hex(32), grant, at)
        self.access[at.token] = at
        self.refresh[rt.token] = rt
        self.counters["tokens_issued"] += 1
        return {"access_token": at.token, "token_type": "bearer",
                "expires_in": int(lifetime) if float(lifetime).is_integer() else lifetime,
                "refresh_token": rt.token, "scope": "public", "created_at": int(now)}

    def grant(self, username, client_id=None):
        with self.lock:
            self._user(username)
            g = self._new_grant(username, client_id or self.default_client_id)
            return self._issue(g)

    def authenticate(self, token):
        """-> (username, None) or (None, reason)."""
        with self.lock:
            at = self.access.get(token)
            if at is None:
                return None, "The access token is invalid"
            if at.revoked or not at.grant.alive:
                return None, "The access token was revoked"
            if self.now() >= at.expires_at:
                return None, "The access token expired"
            return at.grant.username, None

    def expire_access_tokens(self, username):
        with self.lock:
            self._user(username)
            past = self.now() - 1
            n = 0
            for at in self.access.values():
                if at.grant.username == username and at.expires_at > past:
                    at.expires_at = past
                    n += 1
            return n

    def revoke_grants(self, username):
        with self.lock:
            self._user(username)
            n = 0
            for g in self.grants.values():
                if g.username == username and g.alive:
                    g.alive = False
                    n += 1
            return n

    def check_client(self, client_id, client_secret):
        app = self.apps.get(client_id)
        if app is None or client_secret is None or not secrets.compare_digest(str(client_secret), app.client_secret):
            raise OAuthError(401, "invalid_client",
                             "Client authentication failed due to unknown client, no client authentication "
                             "included, or unsupported authentication method.")
        return app

    def issue_code(self, username, redirect_uri="urn:ietf:wg:oauth:2.0:oob", code_challenge=None,
                   code_challenge_method=None, client_id=None):
        with self.lock:
            self._user(username)
            client_id = client_id or self.default_client_id
            app = self.apps.get(client_id)
            if app is None:
                raise ValueError("unknown client_id")
            if redirect_uri not in app.redirect_uris:
                raise ValueError("redirect_uri %r is not registered for this app" % redirect_uri)
            if code_challenge and not code_challenge_method:
                code_challenge_method = "S256"
            code = secrets.token_hex(32)
            self.codes[code] = AuthCode(code, username, client_id, redirect_uri, code_challenge,
                                        code_challenge_method, self.now())
            return code

    def token_request(self, params):
        """POST /oauth/token -> token dict, or raises OAuthError."""
        grant_type = params.get("grant_type")
        with self.lock:
            if grant_type not in ("authorization_code", "refresh_token"):
                raise OAuthError(400, "unsupported_grant_type",
                                 "The authorization grant type is not supported by the authorization server.")
            app = self.check_client(params.get("client_id"), params.get("client_secret"))
            invalid = ("The provided authorization grant is invalid, expired, revoked, does not match the "
                       "redirection URI used in the authorization request, or was issued to another client.")
            if grant_type == "authorization_code":
                code = self.codes.get(str(params.get("code") or ""))
                if code is None or code.used or code.client_id != app.client_id:
                    raise OAuthError(400, "invalid_grant", invalid)
                if self.now() - code.created > self.code_lifetime:
                    raise OAuthError(400, "invalid_grant", invalid)
                if params.get("redirect_uri") != code.redirect_uri:
                    raise OAuthError(400, "invalid_grant", invalid)
                if code.challenge:
                    verifier = params.get("code_verifier")
                    if not verifier:
                        raise OAuthError(400, "invalid_grant", "code_verifier is required (PKCE)")
                    if code.method == "plain":
                        ok = verifier == code.challenge
                    else:
                        digest = hashlib.sha256(str(verifier).encode("ascii", "replace")).digest()
                        ok = base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == code.challenge
                    if not ok:
                        raise OAuthError(400, "invalid_grant", "The PKCE code_verifier does not match")
                if code.username not in self.users:
                    raise OAuthError(400, "invalid_grant", invalid)
                code.used = True
                return self._issue(self._new_grant(code.username, app.client_id)), code.username
            # refresh_token
            rt = self.refresh.get(str(params.get("refresh_token") or ""))
            if rt is None or rt.grant.client_id != app.client_id:
                self.counters["refresh_failures"] += 1
                raise OAuthError(400, "invalid_grant", invalid)
            if rt.used:
                # a refresh token used twice: the whole grant family dies (racing refreshes lose the grant)
                if rt.grant.alive:
                    rt.grant.alive = False
                    self.counters["family_kills"] += 1
                self.counters["refresh_failures"] += 1
                raise OAuthError(400, "invalid_grant", invalid)
            if not rt.grant.alive:
                self.counters["refresh_failures"] += 1
                raise OAuthError(400, "invalid_grant", invalid)
            rt.used = True
            if self.revoke_old_access_on_refresh:
                rt.access.revoked = True
            self.counters["refreshes"] += 1
            return self._issue(rt.grant), rt.grant.username

    def revoke_token(self, params):
        with self.lock:
            self.check_client(params.get("client_id"), params.get("client_secret"))
            tok = str(params.get("token") or "")
            obj = self.access.get(tok) or self.refresh.get(tok)
            if obj is not None:
                obj.grant.alive = False
                return obj.grant.username
            return None

    # ------------------------------------------------------------------ device flow
    def device_code(self, client_id, verification_url):
        with self.lock:
            if client_id not in self.apps:
                raise OAuthError(403)
            dc = secrets.token_hex(32)
            while True:
                uc = secrets.token_hex(4).upper()
                if uc not in self.user_codes:
                    break
            d = DeviceCode(dc, uc, client_id, self.now(), self.device_expires_in, self.device_interval)
            self.devices[dc] = d
            self.user_codes[uc] = dc
            return {"device_code": dc, "user_code": uc, "verification_url": verification_url,
                    "expires_in": d.expires_in, "interval": d.interval}

    def device_token(self, params):
        """POST /oauth/device/token -> (token dict, username) or raises OAuthError (empty bodies)."""
        with self.lock:
            d = self.devices.get(str(params.get("code") or ""))
            if d is None:
                raise OAuthError(404)
            if d.client_id != params.get("client_id"):
                raise OAuthError(404)
            self.check_client(params.get("client_id"), params.get("client_secret"))
            now = self.now()
            if d.status == "used":
                raise OAuthError(409)
            if d.status == "denied":
                raise OAuthError(418)
            if now - d.created >= d.expires_in:
                raise OAuthError(410)
            last, d.last_poll = d.last_poll, now
            if last is not None and d.interval and now - last < d.interval * 0.95:
                raise OAuthError(429)
            if d.status == "pending":
                raise OAuthError(400)
            d.status = "used"
            return self._issue(self._new_grant(d.username, d.client_id)), d.username

    def _device_by_user_code(self, user_code):
        dc = self.user_codes.get(str(user_code or "").strip().upper().replace("-", ""))
        d = self.devices.get(dc) if dc else None
        if d is None:
            raise KeyError("unknown user code %r" % user_code)
        if self.now() - d.created >= d.expires_in:
            raise ValueError("user code %r has expired" % user_code)
        if d.status != "pending":
            raise ValueError("user code %r was already %s" % (user_code, d.status))
        return d

    def approve_device(self, user_code, username):
        with self.lock:
            self._user(username)
            d = self._device_by_user_code(user_code)
            d.status = "approved"
            d.username = username

    def deny_device(self, user_code):
        with self.lock:
            d = self._device_by_user_code(user_code)
            d.status = "denied"

    # ------------------------------------------------------------------ rate limits
    def check_rate(self, username, method):
        """-> (allowed, headers dict).  GETs: rate_limit per user (sliding window);
        other methods: write_rate_limit per user."""
        with self.lock:
            now = time.time()
            if method in ("GET", "HEAD"):
                limit, period = self.rate_limit
                win = self.get_windows.setdefault(username, deque())
                name = "AUTHED_API_GET_LIMIT"
            else:
                limit, period = self.write_rate_limit
                win = self.write_windows.setdefault(username, deque())
                name = "AUTHED_API_POST_LIMIT"
            while win and win[0] <= now - period:
                win.popleft()
            if len(win) >= limit:
                until = win[0] + period if win else now + period
                self.counters["rate_limited"] += 1
                hdr = {"name": name, "period": _num(period), "limit": limit, "remaining": 0, "until": iso(until)}
                return False, {"Retry-After": str(max(1, int(math.ceil(until - now)))),
                               "X-Ratelimit": json.dumps(hdr, separators=(",", ":"))}
            win.append(now)
            until = win[0] + period
            hdr = {"name": name, "period": _num(period), "limit": limit, "remaining": limit - len(win),
                   "until": iso(until)}
            return True, {"X-Ratelimit": json.dumps(hdr, separators=(",", ":"))}

    def set_rate_limit(self, limit, period):
        with self.lock:
            self.rate_limit = (int(limit), float(period))

    # ------------------------------------------------------------------ faults
    def add_fault(self, fault):
        with self.lock:
            fault._state = self
            self.faults.append(fault)
            return fault

    def remove_fault(self, fault):
        with self.lock:
            if fault in self.faults:
                self.faults.remove(fault)

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def match_fault(self, host, method, path):
        with self.lock:
            for f in self.faults:
                if f.exhausted or not f.matches(host, method, path):
                    continue
                if f.skipped < f.after:
                    f.skipped += 1
                    continue
                f.fired += 1
                return f
            return None

    # ------------------------------------------------------------------ request log
    def record(self, entry):
        with self.lock:
            self.log.append(entry)

    def requests(self):
        with self.lock:
            return [dict(e, query=dict(e["query"])) for e in self.log]

    def count(self, path_regex=None, method=None, host=None, status=None):
        rx = re.compile(path_regex) if path_regex else None
        with self.lock:
            n = 0
            for e in self.log:
                if method and e["method"] != method.upper():
                    continue
                if host and e["host"] != host:
                    continue
                if status is not None and e["status"] != int(status):
                    continue
                if rx and not rx.search(e["path"]):
                    continue
                n += 1
            return n

    def reset_log(self):
        with self.lock:
            self.log = []
            for k in self.counters:
                self.counters[k] = 0

    def stats(self):
        with self.lock:
            by_status, by_path, by_host = {}, {}, {}
            for e in self.log:
                s = str(e["status"])
                by_status[s] = by_status.get(s, 0) + 1
                by_path[e["path"]] = by_path.get(e["path"], 0) + 1
                by_host[e["host"]] = by_host.get(e["host"], 0) + 1
            out = {"total": len(self.log), "by_status": by_status, "by_path": by_path, "by_host": by_host}
            out.update(self.counters)
            return out

    # ------------------------------------------------------------------ serving user data
    def serve_get(self, username, path, query):
        """-> (status, headers, json value, encoded body) for an authenticated GET.

        Raises dataset.NotFound / VipOnly / BadRequest."""
        with self.lock:
            r = dataset.resolve_get(self._user(username), path, query)
            if isinstance(r, dataset.Obj):
                status, headers, value = r.status, dict(r.headers), r.value
            else:
                value, headers = dataset.page_of(r, query)
                status = 200
            body = b"" if status == 204 else json.dumps(value, ensure_ascii=False).encode("utf-8")
            return status, headers, value, body

    def serve_write(self, username, method, path, body):
        """-> (status, json value) for an authenticated POST/PUT/DELETE."""
        with self.lock:
            return dataset.apply_write(self._user(username), method, path, body, self.now())


def _num(x):
    return int(x) if float(x).is_integer() else x
