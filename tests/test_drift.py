"""The code, its settings, its README and its scripts say the same things.

Read from the source (ast), so a setting read without being defined, an environment variable missing from the
README's table, or a file pointing to documentation that does not exist fails here rather than in production.
"""

from __future__ import annotations

import ast
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
CODE = [*sorted((ROOT / "backups").rglob("*.py")), *sorted((ROOT / "trakt_web").rglob("*.py"))]
ENV_READERS = {"envstr", "envbool", "envint", "envfloat", "envlist", "envpath", "envurl", "get", "getenv"}


def _trees():
    for path in CODE:
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text(), filename=str(path))


def _settings_read() -> dict[str, str]:
    """Every ``settings.NAME`` in the code, with where it is first read."""
    found: dict[str, str] = {}
    for path, tree in _trees():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "settings"
                    and node.attr.isupper()):
                found.setdefault(node.attr, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _environment_read() -> dict[str, str]:
    """Every environment variable the code reads by name (env readers, os.environ.get, os.getenv)."""
    found: dict[str, str] = {}
    for path, tree in _trees():
        if path.name == "env.py":
            continue  # the readers themselves
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            environ_get = name == "get" and "environ" in ast.unparse(func)
            if (name in ENV_READERS - {"get"} or environ_get) and isinstance(node.args[0].value, str):
                found.setdefault(node.args[0].value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _readme_variables() -> set[str]:
    """The names in the README's table of environment variables (a row may name two: `A` / `B`)."""
    table = (ROOT / "README.md").read_text().split("### Environment variables", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)`(?: / `([A-Z0-9_]+)`)?", table, re.M)
    return {name for row in rows for name in row if name}


def test_every_setting_the_code_reads_is_defined():
    missing = {name: where for name, where in _settings_read().items() if not hasattr(settings, name)}
    assert missing == {}


def test_the_code_reads_settings_and_this_test_sees_them():
    read = _settings_read()
    assert {"TRAKT_MAX_RESPONSE_BYTES", "ARCHIVE_DIR", "S3_REDIRECT_DOWNLOADS"} <= set(read)


def test_every_environment_variable_is_in_the_readme_table():
    read = _environment_read()
    assert {"TRAKT_MAX_RESPONSE_BYTES", "DATA_DIR", "HOST"} <= set(read), "the scan must see the readers"
    missing = sorted(set(read) - _readme_variables())
    assert missing == []


def test_files_point_only_to_documentation_that_exists():
    for name in ("Dockerfile", "docker-compose.yml", "docker-compose.postgres.yml", "Makefile", ".ci/run"):
        text = (ROOT / name).read_text()
        for linked in re.findall(r"\b(docs/[\w./-]+)", text):
            assert (ROOT / linked).exists(), f"{name} points to {linked}"
        for section in re.findall(r"README's \"([^\"]+)\" section", text):
            assert re.search(rf"^#+ {re.escape(section)}$", (ROOT / "README.md").read_text(), re.M), \
                f"{name} points to the README section {section!r}"


def test_archive_storage_is_the_archives_entry_of_storages():
    from django.core.files.storage import storages

    from backups import storage

    assert storage.storage() is storages["archives"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed once the socket is: nothing answers there


def _services_pass_without_postgres(**env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key not in ("CI", "SERVICES_OPTIONAL")}
    environment.update(PG_PORT=str(_closed_port()), **env)
    return subprocess.run([str(ROOT / "scripts/test-services.sh")], env=environment, capture_output=True,
                          text=True, timeout=60)


def test_a_skipped_services_pass_says_so_loudly():
    result = _services_pass_without_postgres()
    assert (result.returncode, "SERVICES PASS SKIPPED: PostgreSQL does not answer" in result.stderr) == (0, True)


def test_under_ci_a_skipped_services_pass_fails():
    result = _services_pass_without_postgres(CI="true")
    assert (result.returncode, "SERVICES_OPTIONAL=1" in result.stderr) == (1, True)


@pytest.mark.parametrize("ci", ["true", ""])
def test_services_optional_lets_ci_skip_the_second_pass(ci):
    assert _services_pass_without_postgres(CI=ci, SERVICES_OPTIONAL="1").returncode == 0
