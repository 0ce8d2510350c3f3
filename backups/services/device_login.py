"""The device-code login (RFC 8628) as one small state machine, for the web page and the command line alike.

``DeviceLogin`` is the whole state: plain values, so the web view keeps it in the session between the page's
polls and the command keeps it in memory. ``poll`` decides whether trakt may be asked yet (never before its
interval, the first time one interval after the start), asks, and moves the state on: slower after a
"slow down", finished on expiry, still waiting while trakt cannot be reached.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from backups.services import grants

# RFC 8628: on "slow down", poll that many seconds less often from then on.
SLOW_DOWN_STEP = 5
EXPIRED_MESSAGE = grants.DEVICE_STATES[410][1]
WAITING_MESSAGE = grants.DEVICE_STATES[400][1]
STILL_WAITING = {"pending", "slow_down", "wait", "unreachable"}


@dataclass
class DeviceLogin:
    device_code: str
    user_code: str
    verification_url: str
    interval: int
    expires_at: float  # time.time()
    next_poll: float  # time.time(): trakt is not asked before this
    username: str | None = None  # the trakt account the user means to connect, if they said

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data) -> DeviceLogin | None:
        """The login kept in a session, or None if there is none (or it is not one of ours)."""
        if not isinstance(data, dict) or not data.get("device_code"):
            return None
        try:
            return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})
        except TypeError:
            return None

    def expired(self, now: float | None = None) -> bool:
        return (now or time.time()) >= self.expires_at

    def seconds_to_next_poll(self, now: float | None = None) -> float:
        return max(0.0, self.next_poll - (now or time.time()))


@dataclass
class Step:
    """What one call of ``poll`` found: ``state`` is trakt's answer, or ``wait`` (too early to ask),
    ``unreachable`` (ask again later) or ``error``; ``done`` when the login is over either way."""

    state: str
    message: str
    account: object | None = None
    wait: float = 0.0

    @property
    def done(self) -> bool:
        return self.state not in STILL_WAITING


def start(username: str | None = None) -> DeviceLogin:
    """Ask trakt for a code; the first poll is one interval away, as trakt wants."""
    started = grants.start_device_login()
    now = time.time()
    return DeviceLogin(
        device_code=started["device_code"], user_code=started["user_code"],
        verification_url=started["verification_url"], interval=started["interval"],
        expires_at=now + started["expires_in"], next_poll=now + started["interval"], username=username,
    )


def poll(login: DeviceLogin, owner, *, before_asking: Callable[[DeviceLogin], None] | None = None) -> Step:
    """Ask trakt once, if its interval allows; ``login`` is updated in place (keep it for the next poll).

    ``before_asking`` gets the login with its next poll already moved on, before trakt is asked: the web view
    saves it then, so a second tab polling meanwhile waits instead of asking trakt too soon.
    """
    now = time.time()
    if now < login.next_poll:
        return Step("wait", WAITING_MESSAGE, wait=round(login.next_poll - now, 2))
    if login.expired(now):
        return Step("expired", EXPIRED_MESSAGE)
    login.next_poll = now + login.interval
    if before_asking is not None:
        before_asking(login)
    try:
        result = grants.poll_device_login(login.device_code, owner, expected_username=login.username)
    except grants.TraktUnreachable as exc:  # a passing outage: the code is still good, keep waiting
        return Step("unreachable", str(exc))
    except grants.ServiceError as exc:
        return Step("error", str(exc))
    if result.state == "slow_down":
        login.interval += SLOW_DOWN_STEP
        login.next_poll = now + login.interval
    return Step(result.state, result.message, result.account)


def wait_for_approval(login: DeviceLogin, owner, *, sleep=time.sleep, on_slow_down=None) -> Step:
    """Poll at trakt's pace until the login is over (the command line's loop)."""
    while True:
        sleep(login.seconds_to_next_poll())
        step = poll(login, owner)
        if step.state == "slow_down" and on_slow_down is not None:
            on_slow_down(login.interval)
        if step.done:
            return step
