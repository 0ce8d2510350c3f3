"""`make run`: the web server and the worker together, stopped together.

Both run in process groups of their own, so the terminal's Ctrl-C reaches this command only, and this command
decides: the first Ctrl-C (or SIGTERM) asks both to finish — the web server at once, the worker after the
backups it is running, which it names with how far they are — and the second stops both at once. A backup
cut short so is recorded as stopped and its temporary files removed, as after a crash, and "Stopped." is
printed only when both processes have exited.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize

from backups.models import Backup
from backups.services.backup_run import recover_stale_backups
from backups.services.bootstrap import prepare

POLL = 0.2
# While the worker finishes, say how far its backups are this often.
PROGRESS_EVERY = 15.0


def _stop_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def _wait_group_gone(pgid: int, timeout: float) -> None:
    """Until every process of the group has died (SIGKILL is delivered, not done, when killpg returns)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def running_backups() -> list[str]:
    """One phrase per backup under way: whose, and how far."""
    phrases = []
    for backup in Backup.objects.filter(status=Backup.Status.RUNNING).select_related("account").order_by("pk"):
        done = f"{backup.categories_done} of {backup.categories_total} categories" if backup.categories_total \
            else "starting"
        phrases.append(f"the backup of {backup.account.username} ({done}, {backup.pages_fetched} "
                       f"page{pluralize(backup.pages_fetched)})")
    return phrases


class Command(BaseCommand):
    help = ("Run the web server and the background worker together. Ctrl-C (or SIGTERM) lets running backups "
            "finish; a second Ctrl-C stops both at once.")

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="web server only")

    def handle(self, *args, host, port, no_worker=False, **options):
        prepare()
        self.signals = 0
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        procs = self._start(host, port, with_worker=not no_worker)
        self.stdout.write(f"trakt-backup is running on http://{'localhost' if host == '0.0.0.0' else host}:{port}/ "
                          f"(data in {settings.DATA_DIR}); press Ctrl-C to stop.")
        self.stdout.flush()
        failed = self._wait_for_a_stop(procs)
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # each main process stops its own children
        self._finish(procs)
        if self.signals >= 2:
            self._stop_now(procs)
        for proc in procs.values():
            proc.wait()
        if failed:
            recover_stale_backups()
            raise CommandError(f"The {failed} process stopped unexpectedly (exit code {procs[failed].returncode}).")
        self.stdout.write("Stopped.")

    def _on_signal(self, signum, frame):
        self.signals += 1

    def _start(self, host: str, port: int, *, with_worker: bool) -> dict[str, subprocess.Popen]:
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        procs = {}
        if with_worker:
            procs["worker"] = subprocess.Popen([*manage, "qcluster"], start_new_session=True)
        # The same gunicorn settings as the Docker image (docker/gunicorn.conf.py reads HOST and PORT).
        procs["web"] = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(settings.BASE_DIR / "docker" / "gunicorn.conf.py"),
             "trakt_web.wsgi:application"],
            cwd=settings.BASE_DIR, env={**os.environ, "HOST": host, "PORT": str(port)}, start_new_session=True,
        )
        return procs

    def _wait_for_a_stop(self, procs: dict[str, subprocess.Popen]) -> str | None:
        """Wait for a signal, or for one of the processes to die (its name)."""
        while not self.signals:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    return name
            time.sleep(POLL)
        return None

    def _finish(self, procs: dict[str, subprocess.Popen]) -> None:
        """Let the processes finish what they do, saying what that is, until they exit or a second signal."""
        told_at = None
        while self.signals < 2 and any(proc.poll() is None for proc in procs.values()):
            if told_at is None or time.monotonic() - told_at >= PROGRESS_EVERY:
                self._tell_finishing(first=told_at is None)
                told_at = time.monotonic()
            time.sleep(POLL)

    def _tell_finishing(self, *, first: bool) -> None:
        phrases, again = running_backups(), " again" if self.signals else ""
        if phrases:
            self.stdout.write(f"{'Stopping: finishing' if first else 'Still finishing'} {', '.join(phrases)}. "
                              f"Press Ctrl-C{again} to stop now (the backup is then recorded as stopped).")
        elif first:
            self.stdout.write(f"Stopping… (press Ctrl-C{again} to stop now)")
        self.stdout.flush()

    def _stop_now(self, procs: dict[str, subprocess.Popen]) -> None:
        for proc in procs.values():
            _stop_group(proc, signal.SIGKILL)
        for proc in procs.values():
            proc.wait()
            _wait_group_gone(proc.pid, timeout=5)  # the backup's own process too, and with it its run lock
        stopped = recover_stale_backups()
        if stopped:
            self.stdout.write(f"{stopped} backup{pluralize(stopped)} cut short, recorded as stopped; "
                              "no partial archive is kept.")
