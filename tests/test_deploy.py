"""The image's commands, run outside a container: no Docker engine is available in CI.

The Dockerfile passes hadolint; the entrypoint prepares a fresh data folder (keys, migrations) even when two
containers start at once; the image's web command serves and the HEALTHCHECK script tells up from down;
`manage.py serve` stops web and worker together; the compose files run web and worker from one image.
Every process here gets the environment of a fresh installation (only DATA_DIR), not the test settings.
The real image is built and started by scripts/test-image.sh (buildah and chroot, after this suite in
`make test`); here only that `make test` runs it and that it never skips quietly.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"


def fresh_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A new installation's environment: this venv's python first on PATH, the data folder, nothing else."""
    env = {name: os.environ[name] for name in ("HOME", "LANG", "TMPDIR") if name in os.environ}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
               DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthcheck(port: int, **extra: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "PORT": str(port), **extra}
    return subprocess.run([sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, text=True, timeout=30)


def wait_healthy(port: int, proc: subprocess.Popen, seconds: float = 60, **extra: str) -> None:
    deadline = time.monotonic() + seconds
    while healthcheck(port, **extra).returncode != 0:
        assert proc.poll() is None, f"the server stopped (exit code {proc.returncode})"
        assert time.monotonic() < deadline, f"no healthy answer on port {port} within {seconds} s"
        time.sleep(0.3)


def dockerfile_instruction(name: str) -> list[str]:
    """The exec-form arguments of the Dockerfile's last NAME instruction (HEALTHCHECK: of its CMD)."""
    line = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith(name + " ")][-1]
    return json.loads(line.split(" CMD ", 1)[1] if name == "HEALTHCHECK" else line[len(name) + 1:])


def in_repo(argv: list[str]) -> list[str]:
    """The image's paths (/app/...) as this checkout's."""
    return [str(ROOT / arg[len("/app/"):]) if arg.startswith("/app/") else arg for arg in argv]


def assert_migrated(env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "manage.py", "migrate", "--check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"unapplied migrations:\n{result.stdout}{result.stderr}"


@contextlib.contextmanager
def running(argv: list[str], env: dict[str, str]):
    """A server in its own session, killed with everything it started if the test leaves it running."""
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)


# -- the Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not hadolint:
        pytest.skip("hadolint is not installed (pip install -r requirements-dev.txt provides it)")
    result = subprocess.run([hadolint, "--failure-threshold", "style", str(DOCKERFILE)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_the_image_holds_what_its_commands_need():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for needed in ("manage.py", "requirements.txt", "trakt_web", "backups", "templates", "static", "docker"):
        assert (ROOT / needed).exists() and needed not in ignored, needed
    for argv in (dockerfile_instruction("ENTRYPOINT"), dockerfile_instruction("CMD"),
                 dockerfile_instruction("HEALTHCHECK")):
        for path in in_repo(argv):
            if path.startswith(str(ROOT)):
                assert Path(path).is_file(), path
    assert os.access(ENTRYPOINT, os.X_OK)
    text = DOCKERFILE.read_text()
    assert re.search(r"^USER \d+:\d+$", text, re.M), "the image must run as a non-root user"
    assert re.search(r"^VOLUME /data$", text, re.M) and "DATA_DIR=/data" in text


def test_collectstatic_at_build_time_leaves_no_key_in_the_image(tmp_path):
    """The build's collectstatic imports the settings, which generate keys into DATA_DIR: a throwaway folder."""
    step = next(line for line in DOCKERFILE.read_text().split("\nRUN ") if "collectstatic" in line)
    throwaway = re.search(r"DATA_DIR=(\S+) python manage.py collectstatic", step).group(1)
    assert f"rm -rf {throwaway}" in step, "the build must delete the keys its collectstatic generated"
    static_root = tmp_path / "staticfiles"
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"], cwd=ROOT,
        env=fresh_env(tmp_path / "throwaway", STATIC_ROOT=str(static_root)), capture_output=True, text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (static_root / "staticfiles.json").is_file() and (static_root / "admin").is_dir()
    assert not list(static_root.rglob("*.key"))
    assert (tmp_path / "throwaway" / "encryption.key").is_file()  # where the build's `rm -rf` finds them


# -- the entrypoint ---------------------------------------------------------------------------------


def test_entrypoint_generates_keys_migrates_and_runs_the_command(tmp_path):
    data = tmp_path / "data"
    env = fresh_env(data)
    result = subprocess.run([str(ENTRYPOINT), "python", "-c", "print('ok')"], env=env, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "ok"
    for name in ("secret.key", "encryption.key"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
        assert (data / name).read_text().strip()
    assert (data / "archives").is_dir()
    assert_migrated(env)

    keys = {name: (data / name).read_text() for name in ("secret.key", "encryption.key")}
    again = subprocess.run([str(ENTRYPOINT), "python", "-c", "import sys; sys.exit(3)"], env=env,
                           capture_output=True, text=True, timeout=180)
    assert again.returncode == 3, "the command's exit code is the container's"
    assert keys == {name: (data / name).read_text() for name in keys}, "a restart must keep the keys"


def test_entrypoint_refuses_a_data_folder_it_cannot_write(tmp_path):
    """A host folder mounted as /data but owned by someone else: one sentence that says what to do."""
    data = tmp_path / "data"
    data.mkdir(mode=0o555)
    as_other_user = {}
    if os.geteuid() == 0:  # root writes anywhere: be the image's kind of user instead, on a folder it can reach
        data = Path(tempfile.mkdtemp(prefix="trakt-backup-readonly-"))
        data.chmod(0o755)
        as_other_user = {"user": 65534, "group": 65534, "extra_groups": []}
    try:
        result = subprocess.run([str(ENTRYPOINT), "true"], env=fresh_env(data), capture_output=True, text=True,
                                timeout=60, **as_other_user)
    finally:
        if as_other_user:
            shutil.rmtree(data)
    assert result.returncode == 1, result.stderr
    assert "is not writable by user" in result.stderr and "chown -R" in result.stderr


def test_two_containers_starting_together_on_one_data_folder(tmp_path):
    """Web and worker start at once on a fresh volume: one set of keys, migrations run once, both start."""
    data = tmp_path / "data"
    env = fresh_env(data)
    procs = [subprocess.Popen([str(ENTRYPOINT), "python", "-c", "print('started')"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=180) for proc in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert out.strip().endswith("started")
    assert_migrated(env)
    with sqlite3.connect(data / "db.sqlite3") as db:
        applied = db.execute("SELECT app, name, COUNT(*) FROM django_migrations GROUP BY app, name "
                             "HAVING COUNT(*) > 1").fetchall()
    assert applied == [], "a migration was applied twice"


@pytest.fixture
def scratch_postgres():
    """A new, empty PostgreSQL database on the server of DATABASE_URL (the services pass only)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("needs DATABASE_URL on PostgreSQL (scripts/test-services.sh)")
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    name = f"trakt_backup_bootstrap_{uuid.uuid4().hex[:12]}"
    server = dict(host=config["HOST"] or "127.0.0.1", port=config["PORT"] or 5432, user=config["USER"] or None,
                  password=config["PASSWORD"] or None, dbname="postgres", autocommit=True)
    with psycopg.connect(**server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(**server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.services
def test_two_hosts_starting_together_on_one_postgres_database(tmp_path, scratch_postgres):
    """Containers on two hosts share the database, not a folder: the advisory lock keeps migrations apart."""
    from cryptography.fernet import Fernet

    keys = {"SECRET_KEY": "shared-" + uuid.uuid4().hex, "ENCRYPTION_KEY": Fernet.generate_key().decode()}
    envs = [fresh_env(tmp_path / f"host{i}", DATABASE_URL=scratch_postgres, **keys) for i in range(3)]
    procs = [subprocess.Popen([str(ENTRYPOINT), "true"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for env in envs]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    assert_migrated(envs[0])


# -- the web command and the HEALTHCHECK ------------------------------------------------------------


def test_the_image_command_serves_with_threads_and_the_healthcheck_sees_it(tmp_path):
    port = free_port()
    argv = [str(ENTRYPOINT), *in_repo(dockerfile_instruction("CMD"))]
    env = fresh_env(tmp_path / "data", PORT=str(port), HOST="127.0.0.1", ALLOWED_HOSTS="backup.example.com")
    with running(argv, env) as proc:
        wait_healthy(port, proc, ALLOWED_HOSTS="backup.example.com")
        # The HEALTHCHECK gets the container's environment: it must send a Host that ALLOWED_HOSTS accepts.
        assert healthcheck(port, ALLOWED_HOSTS="backup.example.com,.example.org").returncode == 0
        assert healthcheck(port, ALLOWED_HOSTS="*").returncode == 1  # Host 127.0.0.1: refused by Django
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "Using worker: gthread" in output
    assert healthcheck(port).returncode == 1, "nothing listens any more"


def test_the_image_command_logs_no_error_when_its_user_has_no_home(tmp_path):
    """The image's user has no writable home (/nonexistent): gunicorn must not need one. Its control socket
    (gunicorn 25.1+) defaulted to $HOME/.gunicorn and logged "Control server error" at every start."""
    port = free_port()
    argv = [str(ENTRYPOINT), *in_repo(dockerfile_instruction("CMD"))]
    # Under /proc not even root can create the folder, as the image's user cannot under /nonexistent.
    env = fresh_env(tmp_path / "data", PORT=str(port), HOST="127.0.0.1", HOME="/proc/trakt-backup-no-home")
    with running(argv, env) as proc:
        wait_healthy(port, proc)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "[ERROR]" not in output and "Traceback" not in output, output


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 503

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(self.status)
        self.send_header("Location", "https://example.com/health")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status", [200, 301, 500, 503])
def test_the_healthcheck_accepts_only_200(status):
    handler = type("Answer", (_Answer,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = healthcheck(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == (0 if status == 200 else 1), result.stderr


# -- manage.py serve ---------------------------------------------------------------------------------


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(path.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(path.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_serve_runs_web_and_worker_and_sigterm_stops_both(tmp_path):
    port = free_port()
    env = fresh_env(tmp_path / "data", WORKERS="1", WEB_WORKERS="1", WEB_THREADS="2")
    argv = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running(argv, env) as proc:
        wait_healthy(port, proc)
        deadline = time.monotonic() + 30
        while True:  # gunicorn (master + worker), qcluster and the cluster's own processes
            tree = _descendants(proc.pid)
            commands = " ".join(Path(f"/proc/{pid}/cmdline").read_text(errors="replace") for pid in tree
                                if _alive(pid))
            if "qcluster" in commands and "gunicorn" in commands and len(tree) >= 5:
                break
            assert time.monotonic() < deadline, f"web and worker did not both start: {commands}"
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "Stopped." in output
    deadline = time.monotonic() + 10
    while [pid for pid in tree if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in tree if _alive(pid)] == [], "processes left running after serve stopped"


# -- the image test (scripts/test-image.sh builds and runs the image where it can: root, buildah) -------


def test_make_test_builds_and_runs_the_image_after_the_services_pass():
    script = ROOT / "scripts" / "test-image.sh"
    assert os.access(script, os.X_OK)
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash" and "set -euo pipefail" in lines
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.M).group(1).split("\n")
    steps = [line.strip() for line in recipe if line.strip()]
    assert steps.index("./scripts/test-image.sh") == steps.index("./scripts/test-services.sh") + 1, steps


def _image_test_unprivileged(**env: str) -> subprocess.CompletedProcess:
    """scripts/test-image.sh as a user who is not root (nobody, when the tests run as root): it must skip.
    Run from a copy in a folder anyone can enter, as the checkout's may not be."""
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        (folder / "scripts").mkdir(mode=0o755)
        script = folder / "scripts" / "test-image.sh"
        shutil.copy2(ROOT / "scripts" / "test-image.sh", script)
        environment = {key: value for key, value in os.environ.items() if key not in ("CI", "IMAGE_TEST_OPTIONAL")}
        environment.update(env)
        nobody = {"user": 65534, "group": 65534, "extra_groups": []} if os.geteuid() == 0 else {}
        return subprocess.run([str(script)], env=environment, capture_output=True, text=True, timeout=60, **nobody)
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("ci", ["", "true"])
def test_the_image_test_skips_loudly_without_root_and_fails_ci_unless_optional(ci):
    result = _image_test_unprivileged(CI=ci)
    assert "IMAGE TEST SKIPPED: not root" in result.stderr and "=" * 100 in result.stderr, result.stderr
    assert result.returncode == (1 if ci else 0), result.stderr
    if ci:
        assert "IMAGE_TEST_OPTIONAL=1" in result.stderr, "the banner must say how to allow the skip"
    assert _image_test_unprivileged(CI=ci, IMAGE_TEST_OPTIONAL="1").returncode == 0


# -- compose -------------------------------------------------------------------------------------------


def _load_yaml(path: Path):
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the compose files (the text checks run without it)")
    return yaml.safe_load(path.read_text())


def test_compose_runs_web_and_worker_from_one_image_on_one_volume():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "qcluster" in text and "/data" in text  # the checks that need no YAML parser
    compose = _load_yaml(ROOT / "docker-compose.yml")
    web, worker = compose["services"]["web"], compose["services"]["worker"]
    assert web["image"] == worker["image"] and web["build"] == worker["build"] == "."
    assert web["volumes"] == worker["volumes"] and web["volumes"][0].endswith(":/data")
    assert web["volumes"][0].split(":")[0] in compose["volumes"]
    assert "8000:8000" in web["ports"]
    assert worker["command"] == ["python", "manage.py", "qcluster"]
    assert "environment" not in web, "the default compose file must work with no configuration"


def test_compose_postgres_override_adds_the_services_and_their_urls():
    import dj_database_url

    override = _load_yaml(ROOT / "docker-compose.postgres.yml")
    services = override["services"]
    assert services["postgres"]["image"] == "postgres:16" and services["redis"]["image"] == "redis:7"
    for name in ("web", "worker"):
        environment = services[name]["environment"]
        url = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", environment["DATABASE_URL"])
        database = dj_database_url.parse(url)
        assert database["ENGINE"] == "django.db.backends.postgresql" and database["HOST"] == "postgres"
        assert database["NAME"] == services["postgres"]["environment"]["POSTGRES_DB"]
        assert environment["REDIS_URL"].startswith("redis://redis:6379/")
        assert set(services[name]["depends_on"]) == {"postgres", "redis"}
