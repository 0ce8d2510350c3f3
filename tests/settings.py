"""Test settings: the real settings module, pointed at a throwaway data folder.

The test database is a file (not in-memory) so that real second processes
(workers, a second refresher, a killed backup) can open it too.
"""

import os
import tempfile

if "DATA_DIR" not in os.environ:
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="trakt-backup-tests-")
if "PYTEST_XDIST_WORKER" in os.environ:
    # Each pytest-xdist worker its own data folder: run locks (run/backup-<id>.lock) are named by row ids, which
    # every worker's database hands out again, so a shared folder let one worker's run block another's.
    _folder = os.path.join(os.environ["DATA_DIR"], os.environ["PYTEST_XDIST_WORKER"])
    os.makedirs(_folder, mode=0o700, exist_ok=True)  # private, as the app makes it (backups/checks.py)
    os.environ["DATA_DIR"] = _folder
os.environ.setdefault("TRAKT_BACKOFF", "0.01")
os.environ.setdefault("STATIC_MANIFEST", "false")
# No test reaches trakt.tv: trakt is the emulator (tests.support) or, where none runs, a closed port on loopback.
os.environ.setdefault("TRAKT_API_URL", "http://127.0.0.1:9")
os.environ.setdefault("TRAKT_AUTH_URL", "http://127.0.0.1:9")
os.environ.setdefault("DEMO_BANNER", "false")

from trakt_web.settings import *  # noqa: E402,F403
from trakt_web.settings import DATA_DIR, DATABASES  # noqa: E402

_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{_worker}.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
EMAIL_ENABLED = True
NOTIFY_EMAILS = ["owner@example.com"]
# Tasks run in the calling process unless a test starts a cluster (a worker process gets Q_SYNC=0).
# On a shared Redis or bucket (the services pass), each pytest-xdist worker keeps its own queue and archive
# prefix; tests.support.app_env hands both to the processes a test starts (Q_CLUSTER_NAME, S3_PREFIX).
Q_CLUSTER = {  # noqa: F405
    **Q_CLUSTER,  # noqa: F405
    "name": os.environ.get("Q_CLUSTER_NAME") or f"trakt-backup-{_worker}",
    "sync": os.environ.get("Q_SYNC", "1") == "1",
}
if ARCHIVE_STORAGE == "s3" and "PYTEST_XDIST_WORKER" in os.environ:  # noqa: F405
    STORAGES["archives"]["OPTIONS"]["location"] += f"/{_worker}"  # noqa: F405
