"""`make run` on a fresh data folder: production settings (hashed static files), pages render, Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from backups.models import Backup
from backups.services.backup_run import queue_backup
from tests.support import app_env, connect_account, find, find_all, start_manage, wait_for


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


def _read_lines(stream, into: list[str]) -> threading.Thread:
    thread = threading.Thread(target=lambda: into.extend(iter(stream.readline, "")), daemon=True)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_names_the_backup_finishing_and_a_second_stops_both_at_once(trakt, alice, monkeypatch):
    from django_q.conf import Conf

    account = connect_account(trakt, "alice-trakt", alice, profile="small")
    trakt.set_latency(0.3)  # a slow trakt: the backup takes far longer than this test waits
    monkeypatch.setattr(Conf, "SYNC", False)  # queued here, run by serve's worker
    proc = start_manage("serve", "--host", "127.0.0.1", "--port", str(free_port()),
                        env=app_env(trakt, WEB_WORKERS="1", Q_SYNC="0"), stderr=subprocess.STDOUT, text=True,
                        start_new_session=True)
    lines: list[str] = []
    reader = _read_lines(proc.stdout, lines)
    try:
        backup = queue_backup(account, Backup.Trigger.MANUAL, full=True)
        wait_for(lambda: Backup.objects.get(pk=backup.pk).pages_fetched >= 2, 60, "the backup to fetch pages")
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        wait_for(lambda: any("Stopping: finishing the backup of alice-trakt" in line for line in lines), 20,
                 "serve to say what it is finishing")
        assert proc.poll() is None  # it waits for the backup…
        said = next(line for line in lines if "Stopping: finishing" in line)
        assert "categories" in said and "page" in said and "Press Ctrl-C again to stop now" in said
        os.killpg(proc.pid, signal.SIGINT)  # …until the second Ctrl-C
        started = time.monotonic()
        proc.wait(timeout=15)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(timeout=10)
    output = "".join(lines)
    assert proc.returncode == 0 and took < 10, output
    assert output.rstrip().endswith("Stopped.") and "1 backup cut short, recorded as stopped" in output, output
    backup.refresh_from_db()
    assert (backup.status, backup.error_kind) == (Backup.Status.FAILED, Backup.ErrorKind.STOPPED)
    served = trakt.count(method="GET")
    time.sleep(2)  # the worker is gone, not finishing in the background
    assert trakt.count(method="GET") == served
    assert not [p for p in Path(settings.ARCHIVE_DIR).rglob("*") if p.is_file()]  # nothing left behind
