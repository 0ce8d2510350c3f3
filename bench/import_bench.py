#!/usr/bin/env python
"""Benchmark: import trakt's own export of a heavy account (100,000 plays) as a user would.

The emulator writes the export (`python -m trakt_emulator --export`, trakt's layout: pages of 250, one file per
list); `manage.py trakt_import` then imports it into a fresh data folder, in a process of its own. Prints the
export's size (compressed and inflated, and its file count), the import's wall time, its CPU seconds, its peak
memory (RSS) and the archive's size.

    .venv/bin/python bench/import_bench.py [--profile heavy] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USER = "bench"
# Runs manage.py in this process, then prints "usage <CPU seconds> <peak RSS MB>" on stderr.
MEASURED = """
import atexit, resource, runpy, sys
def report():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"usage {usage.ru_utime + usage.ru_stime:.2f} {usage.ru_maxrss / 1024:.0f}", file=sys.stderr)
atexit.register(report)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _export(profile: str, folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "trakt_emulator", "--user", f"{USER}:{profile}:vip",
                    "--export", f"{USER}:{folder}"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return folder / f"trakt-export-{USER}.zip"


def _environment(data: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "S3_", "PYTEST"))}
    env.update(DJANGO_SETTINGS_MODULE="trakt_web.settings", DATA_DIR=str(data), LOG_LEVEL="WARNING")
    return env


def _import(export: Path, data: Path) -> tuple[float, float, float, Path]:
    """(wall seconds, CPU seconds, peak RSS in MB, the archive) of one `manage.py trakt_import` in a fresh folder."""
    env = _environment(data)
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "manage.py", "shell", "-c",
                    "from django.contrib.auth import get_user_model as g; "
                    "g().objects.create_superuser('admin', 'a@example.com', 'x')"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return measured_manage(["trakt_import", str(export), "-u", USER], env)


def measured_manage(args: list[str], env: dict) -> tuple[float, float, float, Path]:
    """(wall seconds, CPU seconds, peak RSS in MB, the path it printed last) of one `manage.py ARGS`, measured in
    its own process (RUSAGE_CHILDREN would count the emulator's too)."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", MEASURED, "manage.py", *args],
                            cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    wall = time.monotonic() - started
    cpu, rss = (float(v) for v in result.stderr.strip().splitlines()[-1].split()[1:])
    return wall, cpu, rss, Path(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="heavy")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        export = _export(args.profile, Path(tmp))
        with zipfile.ZipFile(export) as zf:
            inflated, files = sum(i.file_size for i in zf.infolist()), len(zf.infolist())
        print(f"export ({args.profile}): {export.stat().st_size / 1e6:.1f} MB, {inflated / 1e6:.1f} MB inflated, "
              f"{files} files")
        for run in range(1, args.runs + 1):
            wall, cpu, rss, archive = _import(export, Path(tmp) / f"data-{run}")
            print(f"run {run}: {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {rss:.0f} MB, "
                  f"archive {archive.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
