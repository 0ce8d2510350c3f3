"""All mutable emulator state, guarded by one lock.

Apps, users, rate-limit windows, the request log and injected faults live here; the OAuth
grants, tokens and codes in ``oauth.OAuthStore``, which State mixes in.  Both the Python API (Emulator) and
the HTTP control API (/_emulator/...) call these methods: there is a single
implementation of every operation.
"""

import json
import math
import re
import threading
import time
from collections import deque
from datetime import datetime

from .flight import FlightRecorder
from .locks import SharedLock
from .oauth import App, OAuthStore
from .reads import MAX_LIMIT, Obj, full_data, page_of, resolve_get
from .responses import encode_json
from .shared import compact_number, iso, slugify, stable_int, unique_slug
from .user import UserData
from .writes import apply_write


# Path words after /users/ that name an endpoint, not a user.
RESERVED_SLUGS = ("me", "settings", "hidden", "requests", "blocked", "saved_filters", "likes")


class State(OAuthStore):
    def __init__(self, client_id, client_secret, redirect_uris, token_lifetime=86400, latency=0.0,
                 rate_limit=(1000, 300), write_rate_limit=(1, 1.0), device_expires_in=600, device_interval=5,
                 code_lifetime=600, revoke_old_access_on_refresh=False):
        self.lock = threading.RLock()  # the emulator's bookkeeping: tokens, windows, faults, the log
        self.data = SharedLock()       # the users' data: reads side by side, writes alone
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
        self.flight = FlightRecorder()
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
        # Knobs for a trakt that changed its ways (the app's doctor notices): the Date header's error in seconds
        # (a wrong clock on either side looks the same), the largest page a request may ask for, and whether a
        # request without a User-Agent is refused.
        self.date_offset = 0.0
        self.max_limit = MAX_LIMIT
        self.require_user_agent = True
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
            slug = unique_slug(slugify(username, "user-%d" % (stable_int(username) % 100000)),
                               lambda taken: taken in self.slugs or taken in RESERVED_SLUGS)
            self.slugs[slug] = username
        try:
            ud = UserData(username, slug, profile=profile, seed=seed, sizes=sizes, vip=vip, locked=locked)
            ud.watched()  # derived from the whole history: computed now, not under the lock of a first request
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
        with self.data.exclusive():
            ud = self._user(username)
            if vip is not None:
                ud.vip = bool(vip)
            if locked is not None:
                ud.locked = bool(locked)
            ud.bump(self.now(), "account.settings_at")

    def user_data(self, username):
        with self.data.shared():
            data = full_data(self._user(username))
            # serialise under the lock so the caller gets a private, JSON-exact copy
            blob = json.dumps(data, ensure_ascii=False)
        return json.loads(blob)

    def add_plays(self, username, n):
        with self.data.exclusive():
            return self._user(username).add_plays(int(n), self.now())

    def remove_history_item(self, username, item_id):
        item_id = int(item_id)
        with self.data.exclusive():
            removed = self._user(username).remove_history(lambda r: r[0] == item_id, self.now())
            if not removed:
                raise KeyError("no history item %r" % item_id)
            return len(removed)

    def move_play(self, username, item_id, watched_at):
        """One play of the history at another time (an ISO 8601 UTC time), its id kept."""
        ts = datetime.fromisoformat(watched_at.replace("Z", "+00:00")).timestamp()
        with self.data.exclusive():
            if not self._user(username).move_play(int(item_id), ts, self.now()):
                raise KeyError("no history item %r" % item_id)

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
                hdr = {"name": name, "period": compact_number(period), "limit": limit, "remaining": 0, "until": iso(until)}
                return False, {"Retry-After": str(max(1, int(math.ceil(until - now)))),
                               "X-Ratelimit": json.dumps(hdr, separators=(",", ":"))}
            win.append(now)
            until = win[0] + period
            hdr = {"name": name, "period": compact_number(period), "limit": limit, "remaining": limit - len(win),
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
        self.flight.reset()

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
        out["flight"] = self.flight.summary()
        return out

    # ------------------------------------------------------------------ serving user data
    def serve_get(self, username, path, query):
        """-> (status, headers, json value, encoded body) for an authenticated GET.

        Raises errors.NotFound / VipOnly / BadRequest."""
        with self.data.shared():
            r = resolve_get(self._user(username), path, query)
            if isinstance(r, Obj):
                status, headers, value = r.status, dict(r.headers), r.value
            else:
                value, headers = page_of(r, query, self.max_limit)
                status = 200
            body = b"" if status == 204 else encode_json(value)
            return status, headers, value, body

    def serve_write(self, username, method, path, body):
        """-> (status, json value) for an authenticated POST/PUT/DELETE."""
        with self.data.exclusive():
            return apply_write(self._user(username), method, path, body, self.now())
