"""OAuth state: apps, grants, access and refresh tokens, authorization codes and device codes.

``OAuthStore`` is mixed into ``State`` and uses its lock, clock, users and counters.
"""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Optional

from .shared import compact_number


class App:
    def __init__(self, client_id, client_secret, redirect_uris):
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris)


# eq=False: records are compared by identity, as the state's dicts and the grant family need.
@dataclass(slots=True, eq=False)
class Grant:
    """One authorization (one OAuth code or device approval).  Every token refreshed from it
    belongs to the same family; killing the grant kills them all."""
    id: int
    username: str
    client_id: str
    created: float
    alive: bool = True


@dataclass(slots=True, eq=False)
class AccessToken:
    token: str
    grant: Grant
    created: float
    expires_at: float
    revoked: bool = False


@dataclass(slots=True, eq=False)
class RefreshToken:
    token: str
    grant: Grant
    access: AccessToken
    used: bool = False


@dataclass(slots=True, eq=False)
class AuthCode:
    code: str
    username: str
    client_id: str
    redirect_uri: str
    challenge: Optional[str]
    method: Optional[str]
    created: float
    used: bool = False


@dataclass(slots=True, eq=False)
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    created: float
    expires_in: float
    interval: float
    last_poll: Optional[float] = None
    status: str = "pending"     # pending | approved | denied | used
    username: Optional[str] = None


class OAuthError(Exception):
    """-> HTTP status + JSON body (or empty body when body is None)."""

    def __init__(self, status, error=None, description=None):
        super().__init__(description or error or str(status))
        self.status = status
        self.body = None if error is None else {"error": error, "error_description": description or error}


INVALID_GRANT = ("The provided authorization grant is invalid, expired, revoked, does not match the "
                 "redirection URI used in the authorization request, or was issued to another client.")


class OAuthStore:
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
                "expires_in": compact_number(lifetime),
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

    def token_request(self, params: dict) -> tuple:
        """POST /oauth/token -> (token dict, username), or raises OAuthError."""
        grant_type = params.get("grant_type")
        with self.lock:
            if grant_type not in ("authorization_code", "refresh_token"):
                raise OAuthError(400, "unsupported_grant_type",
                                 "The authorization grant type is not supported by the authorization server.")
            app = self.check_client(params.get("client_id"), params.get("client_secret"))
            if grant_type == "authorization_code":
                return self._exchange_code(app, params)
            return self._refresh(app, params)

    def _exchange_code(self, app: App, params: dict) -> tuple:
        code = self.codes.get(str(params.get("code") or ""))
        if code is None or code.used or code.client_id != app.client_id:
            raise OAuthError(400, "invalid_grant", INVALID_GRANT)
        if self.now() - code.created > self.code_lifetime:
            raise OAuthError(400, "invalid_grant", INVALID_GRANT)
        if params.get("redirect_uri") != code.redirect_uri:
            raise OAuthError(400, "invalid_grant", INVALID_GRANT)
        if code.challenge:
            _check_pkce(code, params.get("code_verifier"))
        if code.username not in self.users:
            raise OAuthError(400, "invalid_grant", INVALID_GRANT)
        code.used = True
        return self._issue(self._new_grant(code.username, app.client_id)), code.username

    def _refresh(self, app: App, params: dict) -> tuple:
        refresh = self.refresh.get(str(params.get("refresh_token") or ""))
        if refresh is None or refresh.grant.client_id != app.client_id:
            self.counters["refresh_failures"] += 1
            raise OAuthError(400, "invalid_grant", INVALID_GRANT)
        if refresh.used:
            # a refresh token used twice: the whole grant family dies (racing refreshes lose the grant)
            if refresh.grant.alive:
                refresh.grant.alive = False
                self.counters["family_kills"] += 1
            self.counters["refresh_failures"] += 1
            raise OAuthError(400, "invalid_grant", INVALID_GRANT)
        if not refresh.grant.alive:
            self.counters["refresh_failures"] += 1
            raise OAuthError(400, "invalid_grant", INVALID_GRANT)
        refresh.used = True
        if self.revoke_old_access_on_refresh:
            refresh.access.revoked = True
        self.counters["refreshes"] += 1
        return self._issue(refresh.grant), refresh.grant.username

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


def _check_pkce(code: AuthCode, verifier) -> None:
    if not verifier:
        raise OAuthError(400, "invalid_grant", "code_verifier is required (PKCE)")
    if code.method == "plain":
        matches = verifier == code.challenge
    else:
        digest = hashlib.sha256(str(verifier).encode("ascii", "replace")).digest()
        matches = base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == code.challenge
    if not matches:
        raise OAuthError(400, "invalid_grant", "The PKCE code_verifier does not match")
