import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from backups.services.bootstrap import prepare


class Command(BaseCommand):
    help = "Run the web server and the background worker together; Ctrl-C (or SIGTERM) stops both."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="web server only")

    def handle(self, *args, host, port, no_worker=False, **options):
        prepare()
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        procs = {}
        if not no_worker:
            procs["worker"] = subprocess.Popen([*manage, "qcluster"])
        # The same gunicorn settings as the Docker image (docker/gunicorn.conf.py reads HOST and PORT).
        procs["web"] = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(settings.BASE_DIR / "docker" / "gunicorn.conf.py"),
             "trakt_web.wsgi:application"],
            cwd=settings.BASE_DIR, env={**os.environ, "HOST": host, "PORT": str(port)},
        )
        self.stdout.write(f"trakt-backup is running on http://{'localhost' if host == '0.0.0.0' else host}:{port}/ "
                          f"(data in {settings.DATA_DIR}); press Ctrl-C to stop.")
        self.stdout.flush()
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        failed = None
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    failed = name
                    stopping = True
            time.sleep(0.3)
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        if failed:
            raise CommandError(f"The {failed} process stopped unexpectedly (exit code {procs[failed].returncode}).")
        self.stdout.write("Stopped.")
