#!/usr/bin/env python
"""Benchmark: back up a heavy trakt account from the emulator, full and incremental.

Starts the trakt emulator as its own process with a per-request latency, seeds a
heavy account (100,000 history items, 10,000 ratings, 3,000 watched shows with
progress, 100 lists of 250 items, every other category), connects it through the
real code exchange, and runs `manage.py trakt_backup` as a user would, in a fresh
data folder. For each run it prints: requests made, the minimum needed (the sum of
the page counts of every endpoint), the fetch time and the average number of requests
in flight as the emulator saw them (from the first request's arrival to the last
answer's end) and as the app counted them (from its log), the lower bound (requests x latency / concurrency) and the same bound
from the emulator's real response times (the sum of them / concurrency), wall time of the
backup itself, the whole command's time (with Python and Django start-up), the CPU
seconds of the backup process and of the emulator, peak memory (RSS) of the backup
process, archive size and 429s.

    .venv/bin/python bench/backup_bench.py [--profile heavy] [--latency-ms 50] [--concurrency 4] [--full-runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID, CLIENT_SECRET = "bench-client-id", "bench-client-secret"


def control(api_url: str, path: str, payload: dict | None = None, method: str = "POST"):
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(f"{api_url}/_emulator/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        body = response.read()
    return json.loads(body) if body else None


def start_emulator(profile: str, latency_ms: int) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trakt_emulator", "--port", "0", "--client-id", CLIENT_ID,
         "--client-secret", CLIENT_SECRET, "--user", f"heavy:{profile}", "--latency-ms", str(latency_ms)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    for line in proc.stdout:
        if line.startswith("READY"):
            fields = dict(part.split("=", 1) for part in line.split()[1:])
            return proc, fields["api"], fields["auth"]
    raise SystemExit("the emulator did not start")


def manage(env: dict, *args: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"`manage.py {' '.join(args)}` failed:\n{result.stderr}")
    return result.stdout


def cpu_seconds(pid: int) -> float:
    """User + system CPU a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_measured(env: dict, *args: str) -> tuple[str, float, float, float]:
    """Run a command in its own process: (stdout, wall seconds, peak RSS MB, CPU seconds of that process)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"`manage.py {' '.join(args)}` failed:\n{err.decode()}")
    return out.decode(), wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def archive_figures(path: Path) -> tuple[dict, int]:
    with tarfile.open(path) as tar:
        for member in tar:
            if member.name.endswith("/manifest.json"):
                return json.load(tar.extractfile(member)), path.stat().st_size
    raise SystemExit("no manifest")


def app_in_flight(log_file: Path) -> float | None:
    """The app's own count of requests on the wire, from the last backup's line in the log."""
    found = None
    if log_file.exists():
        for line in log_file.read_text(errors="replace").splitlines():
            match = re.search(r"fetched in [0-9.]+ s, ([0-9.]+) requests in flight on average", line)
            if match:
                found = float(match.group(1))
    return found


def minimum_requests(manifest: dict) -> int:
    """One request per page of every fetched or carried file, and one per skipped endpoint."""
    return sum(entry.get("pages") or 1 for entry in manifest["files"].values()) + len(manifest["skipped"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="heavy", choices=["tiny", "small", "medium", "heavy"])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--full-runs", type=int, default=3,
                        help="full backups measured (the table shows the one of median fetch time)")
    args = parser.parse_args()

    emulator, api_url, auth_url = start_emulator(args.profile, args.latency_ms)
    data_dir = Path(tempfile.mkdtemp(prefix="trakt-backup-bench-"))
    env = {**os.environ, "DATA_DIR": str(data_dir), "TRAKT_API_URL": api_url, "TRAKT_AUTH_URL": auth_url,
           "TRAKT_CONCURRENCY": str(args.concurrency), "DJANGO_SUPERUSER_PASSWORD": "bench-password-1",
           "DEDUP_IDENTICAL_BACKUPS": "false", "LOG_LEVEL": "INFO"}
    try:
        manage(env, "bootstrap")
        manage(env, "createsuperuser", "--noinput", "--username", "bench", "--email", "bench@example.com")
        manage(env, "trakt_setup", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET)
        code = control(api_url, "code", {"username": "heavy", "redirect_uri": "urn:ietf:wg:oauth:2.0:oob"})["code"]
        manage(env, "trakt_auth", "-u", "heavy", "-c", code)

        rows = []

        def measure(label: str, *extra: str) -> dict:
            control(api_url, "reset_log", {})  # the request log, the counters and the flight recorder
            emulator_cpu = cpu_seconds(emulator.pid)
            out, wall, rss, cpu = run_measured(env, "trakt_backup", "-u", "heavy", *extra)
            emulator_cpu = cpu_seconds(emulator.pid) - emulator_cpu
            after = control(api_url, "stats", method="GET")
            lines = out.strip().splitlines()
            path = Path(lines[-1])
            backup_seconds = float(lines[-2].rsplit(",", 1)[1].strip().rstrip(".").split()[0])
            manifest, size = archive_figures(path)
            requests = manifest["requests"]
            flight = after["flight"]
            lower_bound = requests * args.latency_ms / 1000 / args.concurrency
            row = {
                "run": label, "requests": requests,
                "minimum": minimum_requests(manifest) if label == "full" else "-",
                "fetch_s": round(flight["span_seconds"], 2), "in_flight": flight["average_in_flight"],
                "max_in_flight": flight["max_in_flight"], "app_in_flight": app_in_flight(data_dir / "trakt-backup.log"),
                "fetch_vs_bound": round(flight["span_seconds"] / lower_bound, 2) if lower_bound else "-",
                # the same bound from the emulator's real response times (its own CPU makes some pages slower)
                "served_bound_s": round(flight["busy_seconds"] / args.concurrency, 2),
                "fetch_vs_served": (round(flight["span_seconds"] * args.concurrency / flight["busy_seconds"], 2)
                                    if flight["busy_seconds"] else "-"),
                "wall_s": round(backup_seconds, 2), "process_s": round(wall, 2),
                "lower_bound_s": round(lower_bound, 2),
                "client_cpu_s": round(cpu, 2), "emulator_cpu_s": round(emulator_cpu, 2),
                "peak_rss_mb": round(rss, 1), "archive_mb": round(size / 1e6, 2), "429s": after.get("rate_limited", 0),
                "history_items": manifest["files"]["sync/history.json"]["items"],
                "history_source": manifest["files"]["sync/history.json"]["source"],
            }
            row["paths"] = after.get("by_path", {}) if label != "full" else "…"
            rows.append(row)
            print(json.dumps(row), flush=True)
            return manifest

        def days_later() -> None:
            """Scheduled backups are days apart: age trakt's rate window and the app's record of it."""
            control(api_url, "config", {"advance_clock": 86400})
            manage(env, "shell", "-c", "from datetime import timedelta; from backups.models import Backup; "
                   "[Backup.objects.filter(pk=b.pk).update(created=b.created - timedelta(days=1), "
                   "finished=b.finished - timedelta(days=1)) for b in Backup.objects.all()]")
            time.sleep(1.1)  # archive names carry the second

        fulls = []
        for _ in range(max(1, args.full_runs)):
            fulls.append((measure("full", "--full"), rows.pop()))
            days_later()
        fulls.sort(key=lambda pair: pair[1]["fetch_s"])
        full, median = fulls[len(fulls) // 2]
        rows.append(median)
        print("full runs' fetch times: " + ", ".join(f"{row['fetch_s']} s" for _, row in fulls))
        measure("incremental, nothing changed")
        control(api_url, "plays", {"username": "heavy", "n": 10})
        days_later()
        measure("incremental, 10 new plays")
        history = full["files"]["sync/history.json"]
        assert history["items"] > 0
        with tarfile.open(sorted((data_dir / "archives" / "heavy").glob("*.tar.gz"))[-1]) as tar:
            member = next(m for m in tar if m.name.endswith("/sync/history.json"))
            handle = tar.extractfile(member)
            handle.readline()
            some_id = json.loads(handle.readline().rstrip(b",\n"))["id"]
        control(api_url, "remove", {"username": "heavy", "id": some_id})
        days_later()
        measure("incremental, 1 play removed")

        print()
        print(f"profile={args.profile} latency={args.latency_ms} ms concurrency={args.concurrency}")
        header = ["run", "requests", "minimum", "fetch_s", "in_flight", "app_in_flight", "lower_bound_s", "fetch_vs_bound",
                  "served_bound_s", "fetch_vs_served", "wall_s", "process_s", "client_cpu_s", "emulator_cpu_s",
                  "peak_rss_mb", "archive_mb", "429s"]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(str(row[h]) for h in header) + " |")
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)


if __name__ == "__main__":
    main()
