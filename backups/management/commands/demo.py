"""`make demo`: the app and the trakt emulator together, to try everything without a trakt account.

The Makefile points the app at the emulator (TRAKT_API_URL, TRAKT_AUTH_URL) and at a data folder of its own
(DATA_DIR=data-demo), so a demo never touches a real installation's data. This command starts the emulator
with the app's callback registered, saves the emulator's app credentials through App setup's own service, then
runs `serve` until Ctrl-C, and stops the emulator last (a backup that is finishing still reaches it).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from backups.management.commands._base import user_errors
from backups.services.bootstrap import prepare
from backups.services.grants import set_up_app
from trakt_emulator.__main__ import OOB

CLIENT_ID, CLIENT_SECRET, USER = "emulator-client-id", "emulator-client-secret", "demo"
LOOPBACK = ("127.0.0.1", "localhost")


def _loopback_port(url: str, name: str) -> int:
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK or not parts.port:
        raise CommandError(f"The demo runs against the emulator on this machine, but {name} is {url}: "
                           "start it with `make demo`.")
    return parts.port


class Command(BaseCommand):
    help = "Run the app against the trakt emulator (a simulated trakt), set up and ready to connect the user demo."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="the app's port (default 8000)")

    @user_errors
    def handle(self, *args, port: int, **options):
        api_port = _loopback_port(settings.TRAKT_API_URL, "TRAKT_API_URL")
        auth_port = _loopback_port(settings.TRAKT_AUTH_URL, "TRAKT_AUTH_URL")
        prepare()
        emulator = self._start_emulator(api_port, auth_port, port)
        try:
            set_up_app(CLIENT_ID, CLIENT_SECRET)
            self._welcome(port, auth_port)
            call_command("serve", host="127.0.0.1", port=port, stdout=self.stdout, stderr=self.stderr)
        finally:
            emulator.send_signal(signal.SIGTERM)
            try:
                emulator.wait(timeout=10)
            except subprocess.TimeoutExpired:
                emulator.kill()

    def _start_emulator(self, api_port: int, auth_port: int, port: int) -> subprocess.Popen:
        callbacks = [f"http://{host}:{port}/connect/callback" for host in LOOPBACK]
        command = [sys.executable, "-m", "trakt_emulator", "--port", str(api_port), "--auth-port", str(auth_port),
                   "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--user", f"{USER}:small",
                   "--redirect-uri", OOB, *[arg for uri in callbacks for arg in ("--redirect-uri", uri)]]
        # A session of its own: the terminal's Ctrl-C reaches `serve`, which stops the app first.
        emulator = subprocess.Popen(command, cwd=settings.BASE_DIR, stdout=subprocess.PIPE, text=True,
                                    start_new_session=True)
        for line in emulator.stdout:
            if line.startswith("READY"):
                return emulator
        emulator.wait()
        raise CommandError(f"The trakt emulator did not start (exit code {emulator.returncode}); "
                           f"is port {api_port} or {auth_port} taken?")

    def _welcome(self, port: int, auth_port: int) -> None:
        self.stdout.write(
            "\n".join([
                "",
                "A demo against a simulated trakt (the emulator), with its own data in "
                f"{settings.DATA_DIR}:",
                f"  1. open http://localhost:{port}/ and create your admin account;",
                f"  2. connect the trakt user '{USER}': by device code (approve it at "
                f"http://127.0.0.1:{auth_port}/activate, user name '{USER}'), by PIN or by redirect;",
                "  3. press Back up now.",
                "",
            ])
        )
