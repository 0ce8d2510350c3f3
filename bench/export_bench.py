#!/usr/bin/env python
"""Benchmark: export a heavy account's archive (100,000 plays) to every format, as a user would.

The archive is made the way bench/import_bench.py makes one (the emulator's export of the account, imported);
`manage.py trakt_export --archive` then writes each format in a process of its own. Prints per format the wall
time, CPU seconds, peak memory (RSS) and the ZIP's size.

    .venv/bin/python bench/export_bench.py [--profile heavy] [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from import_bench import USER, _environment, _export, _import, measured_manage

FORMATS = ("csv", "letterboxd", "trakt-import")


def _run_export(archive: Path, fmt: str, data: Path, out: Path) -> tuple[float, float, float, Path]:
    return measured_manage(["trakt_export", "-u", USER, "--format", fmt, "--archive", str(archive), "-o", str(out)],
                           _environment(data))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="heavy")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="export-bench-") as tmp:
        data = Path(tmp) / "data"
        *_, archive = _import(_export(args.profile, Path(tmp)), data)
        print(f"archive ({args.profile}): {archive.stat().st_size / 1e6:.1f} MB")
        for fmt in FORMATS:
            for run in range(1, args.runs + 1):
                out = Path(tmp) / f"{fmt}-{run}.zip"
                wall, cpu, rss, path = _run_export(archive, fmt, data, out)
                print(f"{fmt} run {run}: {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {rss:.0f} MB, "
                      f"ZIP {path.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
