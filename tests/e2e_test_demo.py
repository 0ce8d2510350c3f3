"""`make demo` as the README gives it: a fresh data folder, the app and the emulator started together; in a real
browser, the demo user is connected by device code, PIN and redirect, and backed up by the demo's own worker.

The demo runs in processes of its own (make, manage.py demo, serve's web server and worker, the emulator) with
none of the test settings: only this test's ports and data folder differ from what a new user gets.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support import PASSWORD, ROOT, wait_for
from tests.support.browser import BROWSER_TEST

pytestmark = [pytest.mark.backend_neutral, *BROWSER_TEST]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def demo(tmp_path):
    """`make demo` on free ports, in a data folder of its own; stopped with Ctrl-C (SIGINT to its process group,
    as a terminal sends it) and checked to leave nothing running."""
    port, api_port, auth_port = _free_port(), _free_port(), _free_port()
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}  # a user's shell
    venv = Path(sys.executable).parents[1]  # this suite's virtualenv, set up by `make` (a copy of the tree has none)
    reuse = [f"VENV={venv}"] if (venv / ".deps").is_file() else []
    log = open(tmp_path / "demo.log", "w+")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "demo", f"PORT={port}", f"DEMO_API_PORT={api_port}",
         f"DEMO_AUTH_PORT={auth_port}", f"DEMO_DATA={tmp_path / 'data-demo'}", *reuse],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://localhost:{port}"
    try:
        wait_for(lambda: _answers(f"{base}/health") or proc.poll() is not None, 90, "the demo to serve")
        assert proc.poll() is None, (tmp_path / "demo.log").read_text()
        yield {"url": base, "activate": f"http://127.0.0.1:{auth_port}/activate", "log": tmp_path / "demo.log"}
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        finally:
            log.close()
    for gone in (f"{base}/health", f"http://127.0.0.1:{api_port}/"):
        wait_for(lambda url=gone: not _answers(url), 10, f"{gone} to stop answering")


def _connected(page) -> None:
    page.wait_for_url("**/#account-*", timeout=30_000)
    assert "Connected the trakt account demo" in page.inner_text(".messages")


def _connect_by_device(page, activate_url: str) -> None:
    page.goto("/connect/device/")
    page.click("#device-start")
    code = page.inner_text("#user-code").strip()
    assert page.get_attribute("#verification-url", "href") == activate_url
    trakt_tab = page.context.new_page()
    trakt_tab.goto(activate_url)
    trakt_tab.fill("#user_code", code)
    trakt_tab.fill("#username", "demo")
    trakt_tab.click("#approve")
    assert trakt_tab.inner_text("#result") == "approved"
    trakt_tab.close()
    _connected(page)  # the page polls every 5 s, as trakt asks


def _connect_by_pin(page) -> None:
    page.goto("/connect/pin/")
    with page.context.expect_page() as new_tab:
        page.click("#authorize-link")
    trakt_tab = new_tab.value
    trakt_tab.fill("#username", "demo")
    trakt_tab.click("#authorize")
    code = trakt_tab.inner_text("#code").strip()
    trakt_tab.close()
    page.fill("#id_code", code)
    page.click("main button[type=submit]")
    _connected(page)


def _connect_by_redirect(page) -> None:
    page.goto("/connect/redirect/")
    page.click("#redirect-start")
    page.fill("#username", "demo")  # trakt's (the emulator's) authorize page, in this tab
    page.click("#authorize")
    _connected(page)


def _back_up(page) -> str:
    page.goto("/")
    page.locator("[data-account=demo] [data-action=backup-now]").click()
    row = page.locator("[data-account=demo] tbody.backup").first
    deadline = time.monotonic() + 120
    while row.get_attribute("data-status") not in ("success", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)
    return row.get_attribute("data-status")


def test_make_demo_connects_three_ways_and_backs_up(browser, demo):
    context = browser.new_context(base_url=demo["url"], viewport={"width": 1100, "height": 800})
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        page.goto("/")  # a fresh installation: the admin is created first; the app is set up already
        assert page.url.endswith("/first-run/")
        banner = page.inner_text(".demo-banner")
        assert "simulated trakt" in banner and "not to trakt.tv" in banner
        page.fill("#id_username", "alice")
        page.fill("#id_password1", PASSWORD)
        page.fill("#id_password2", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/connect/device/")  # nothing to set up: the demo saved the emulator's credentials

        _connect_by_device(page, demo["activate"])
        _connect_by_pin(page)
        _connect_by_redirect(page)
        assert page.locator("section.account").count() == 1  # one trakt user, connected three times
        assert page.locator(".demo-banner").is_visible()
        assert _back_up(page) == "success", demo["log"].read_text()[-3000:]
    finally:
        context.close()
    log = demo["log"].read_text()
    assert "open http://localhost:" in log and "/activate" in log  # the welcome steps
    assert "ERROR" not in log and "Traceback" not in log, log[-3000:]
