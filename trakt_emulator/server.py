"""The Emulator: a fake api.trakt.tv + auth.trakt.tv on loopback, and its Python API.

Both hosts are real ``ThreadingHTTPServer``s (HTTP/1.1, keep-alive) on loopback
(``http_server.py``); all state lives in ``state.State``.
"""

import socket
import threading
from pathlib import Path

from .export import write_export
from .faults import FaultSpec
from .http_server import EmulatorServer
from .pages import OOB
from .state import State


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
        api = EmulatorServer((self.host, self.api_port), self, "api")
        try:
            auth = EmulatorServer((self.host, self.auth_port), self, "auth")
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
    # a trakt that changed its ways: the Date header off by this many seconds, the page size clamped to this,
    # requests without a User-Agent let through when False
    date_offset = _cfg_prop("date_offset")
    max_limit = _cfg_prop("max_limit")
    require_user_agent = _cfg_prop("require_user_agent")
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
                    "clock_offset": st.clock_offset, "date_offset": st.date_offset, "max_limit": st.max_limit,
                    "require_user_agent": st.require_user_agent}

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

    def move_play(self, username, item_id, watched_at):
        return self.state.move_play(username, item_id, watched_at)

    def export_zip(self, username, path, *, subfolder: str | None = None, truncate_history: int | None = None,
                   errors: list[dict] | None = None, csv: bool = False) -> Path:
        """Write `username`'s data as trakt's own export (trakt-export-{slug}.zip, trakt's file names and pages)
        to `path`, a file or a folder; returns the ZIP's path.  The options are export.write_export's."""
        return write_export(self.state, username, path, subfolder=subfolder, truncate_history=truncate_history,
                            errors=errors, csv=csv)

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
