"""`make run` on a fresh data folder: production settings (hashed static files), pages render, Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.support import find, find_all, start_manage


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_on_a_fresh_data_folder_renders_pages_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DATABASE_URL", "REDIS_URL",
                                                                     "ARCHIVE_STORAGE", "S3_"))}
    env.update(DJANGO_SETTINGS_MODULE="trakt_web.settings", DATA_DIR=str(tmp_path / "data"),
               STATIC_ROOT=str(tmp_path / "static"), STATIC_MANIFEST="true", WEB_WORKERS="1")
    env.pop("DEBUG", None)
    proc = start_manage("serve", "--host", "127.0.0.1", "--port", str(port), env=env, stdin=None,
                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        page = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/first-run/", timeout=5) as response:
                    page = response.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert page is not None, "the server did not answer"
        assert find(page, "title").text.startswith("Welcome")
        assert (tmp_path / "static" / "staticfiles.json").is_file()
        stylesheets = [link["href"] for link in find_all(page, "link[rel=stylesheet]")]
        css = next(href for href in stylesheets if href.startswith("/static/css/")).removeprefix("/static/css/")
        assert css != "app.css" and css.endswith(".css")  # hashed name, served by whitenoise
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/css/{css}", timeout=5) as response:
            assert response.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
        output, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, output
    assert "Stopped." in output
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
