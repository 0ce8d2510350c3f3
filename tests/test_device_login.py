"""The device-login service (backups/services/device_login.py): its pacing, slow-down and expiry, on its own,
through the web view and through `trakt_auth --device`, against the emulator."""

from __future__ import annotations

import subprocess
import sys

import pytest

from backups.models import Account
from backups.services import device_login
from tests.support import ROOT, app_env
from tests.support.factories import session_value, set_session_value

DEVICE_TOKEN = r"^/oauth/device/token$"


def polls_sent(trakt) -> list[float]:
    """When each poll of the device token reached the emulator."""
    return [entry["t"] for entry in trakt.requests if entry["path"] == "/oauth/device/token"]


@pytest.fixture
def fast_device(trakt):
    trakt.device_interval = 1
    return trakt


# -- the service ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_first_poll_waits_one_interval_after_the_start(fast_device, admin_user):
    login = device_login.start()
    step = device_login.poll(login, admin_user)
    assert step.state == "wait" and not step.done and 0 < step.wait <= 1
    assert polls_sent(fast_device) == []


@pytest.mark.django_db
def test_slow_down_polls_five_seconds_less_often(fast_device, admin_user):
    login = device_login.start()
    login.next_poll = 0
    fast_device.inject("status", path=DEVICE_TOKEN, status=429)
    step = device_login.poll(login, admin_user)
    assert step.state == "slow_down" and not step.done
    assert login.interval == 6
    assert 5 < login.seconds_to_next_poll() <= 6


@pytest.mark.django_db
def test_an_expired_login_is_over_without_asking_trakt(fast_device, admin_user):
    login = device_login.start()
    login.next_poll = login.expires_at = 0
    step = device_login.poll(login, admin_user)
    assert step.state == "expired" and step.done
    assert polls_sent(fast_device) == []


@pytest.mark.django_db
def test_trakt_out_of_reach_keeps_the_login_waiting(fast_device, admin_user):
    login = device_login.start()
    login.next_poll = 0
    fast_device.inject("reset", path=DEVICE_TOKEN, times=None)
    step = device_login.poll(login, admin_user)
    assert step.state == "unreachable" and not step.done
    assert login.seconds_to_next_poll() > 0


@pytest.mark.django_db
def test_the_state_survives_a_trip_through_the_session(fast_device):
    login = device_login.start("alice-trakt")
    assert device_login.DeviceLogin.from_dict(login.as_dict()) == login
    assert device_login.DeviceLogin.from_dict({"device_code": ""}) is None


# -- through the web view ----------------------------------------------------------------------------


def poll_page(client) -> dict:
    return client.post("/connect/device/poll").json()


def let_the_interval_pass(client) -> None:
    set_session_value(client, "device_login", {**session_value(client, "device_login"), "next_poll": 0})


@pytest.mark.django_db
def test_the_page_keeps_the_pace_and_slows_down_when_told(fast_device, alice_client):
    alice_client.post("/connect/device/start", {"username": ""})
    assert poll_page(alice_client)["state"] == "wait"
    fast_device.inject("status", path=DEVICE_TOKEN, status=429)
    let_the_interval_pass(alice_client)
    result = poll_page(alice_client)
    assert result["state"] == "slow_down" and result["interval"] == 6
    assert session_value(alice_client, "device_login")["interval"] == 6
    assert poll_page(alice_client)["state"] == "wait"
    assert len(polls_sent(fast_device)) == 1


@pytest.mark.django_db
def test_the_page_ends_an_expired_login_without_asking_trakt(fast_device, alice_client):
    alice_client.post("/connect/device/start", {"username": ""})
    set_session_value(alice_client, "device_login",
                      {**session_value(alice_client, "device_login"), "next_poll": 0, "expires_at": 0})
    result = poll_page(alice_client)
    assert result["state"] == "expired" and result["done"]
    assert "device_login" not in alice_client.session
    assert polls_sent(fast_device) == []


# -- through the command ----------------------------------------------------------------------------


def start_command(trakt) -> tuple[subprocess.Popen, str]:
    """`trakt_auth -u alice --device` in its own process; returns it and the user code it printed."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "trakt_auth", "-u", "alice", "--device"],
        cwd=ROOT, env=app_env(trakt), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    first = proc.stdout.readline()
    assert "/activate" in first, proc.stderr.read()
    return proc, first.strip().split()[-1]


@pytest.mark.django_db(transaction=True)
def test_the_command_waits_an_interval_slows_down_and_connects(fast_device, admin_user):
    fast_device.add_user("alice", profile="tiny")
    fast_device.inject("status", path=DEVICE_TOKEN, status=429)
    proc, user_code = start_command(fast_device)
    fast_device.approve_device(user_code, "alice")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "now every 6 seconds" in err
    started = next(entry["t"] for entry in fast_device.requests if entry["path"] == "/oauth/device/code")
    first, second = polls_sent(fast_device)
    assert first - started >= 1  # one interval after the code was issued
    assert second - first >= 6 * 0.95  # the emulator's own tolerance
    assert Account.objects.get(username="alice").is_connected


@pytest.mark.django_db(transaction=True)
def test_the_command_stops_when_the_code_expires(fast_device, admin_user):
    fast_device.add_user("alice", profile="tiny")
    fast_device.device_expires_in = 2
    proc, _ = start_command(fast_device)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "expired before it was approved" in err and "Run the command again" in err
    assert not Account.objects.exists()
