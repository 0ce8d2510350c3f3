#!/usr/bin/env python
"""Benchmark: browse, compare and chart a heavy archive (100,000 plays) through the real HTTP server, as a user would.

The archive is made the way bench/import_bench.py makes one (the emulator's export of the account, imported);
a second one is the same account's export cut to its newest 88,000 plays (trakt's truncation, or a bad sync).
Then: each index is built as the worker builds it (`tasks.build_browse_index`, in a process of its own: wall
time and peak memory); the app is served by gunicorn (two workers, as `manage.py serve` runs it) and a signed-in
client asks for random pages of random sections with random filters, for title searches, for the comparison of
the two archives (its first page, and random sections and kinds of it) and for the charts page. Prints the
index build's time, memory and size, and the p50 / p95 / max response times (loopback, so they bound the
server's time from above) of each kind of page.

    .venv/bin/python bench/browse_bench.py [--profile heavy] [--requests 200]
"""

from __future__ import annotations

import argparse
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from import_bench import ROOT, USER, _environment, _export, _import, measured_manage

BUILD = ("from backups import tasks; from backups.models import Backup; b = Backup.objects.latest('pk'); "
         "tasks.build_browse_index(b.pk); print(b.pk)")
KEPT_PLAYS = 88_000  # of the second archive: 12% of the history gone
ADMIN = ("from django.contrib.auth import get_user_model as g; u = g().objects.get(username='admin'); "
         "u.set_password('bench-password-7'); u.save()")
SECTIONS = ("history", "history", "history", "ratings", "watched", "list-items", "collection", "watchlist")
WORDS = ("the", "night", "star", "lost", "house", "glass", "ocean", "dark", "love", "storm", "crimson", "code")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(env: dict) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                               "trakt_web.wsgi"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{base}/health", timeout=5)
            return server, base
        except requests.RequestException:  # not listening yet, or still starting
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


def _signed_in(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    session.post(f"{base}/login/", data={"csrfmiddlewaretoken": token, "username": "admin",
                                         "password": "bench-password-7"}, headers={"Referer": f"{base}/login/"},
                 timeout=10)
    return session


def _timed(session: requests.Session, url: str, params: dict) -> float:
    started = time.perf_counter()
    response = session.get(url, params=params, timeout=30)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, (url, params, response.status_code)
    return elapsed


def _random_filters(rng: random.Random, section: str) -> dict:
    params: dict = {"page": rng.randint(1, 40 if section == "history" else 4)}
    if section in ("history", "ratings") and rng.random() < 0.3:
        params["type"] = rng.choice(("movie", "episode"))
    if section == "ratings" and rng.random() < 0.5:
        params["rating"] = rng.randint(1, 10)
    if section == "history" and rng.random() < 0.3:
        year = rng.randint(2012, 2025)
        params.update(since=f"{year}-01-01", until=f"{year}-06-30")
    return params


def _report(name: str, times: list[float]) -> None:
    times = sorted(times)
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"{name}: {len(times)} requests, p50 {statistics.median(times) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms")


def _build(data: Path, env: dict, name: str) -> int:
    """Build the newest backup's index as the worker does; print its figures; the backup's id."""
    wall, _, rss, pk = measured_manage(["shell", "-c", BUILD], env)
    index = max((data / "index").glob("*.sqlite3"), key=lambda path: path.stat().st_mtime)
    print(f"{name}: index built in {wall:.2f} s wall (with Django's start-up), peak RSS {rss:.0f} MB, "
          f"{index.stat().st_size / 1e6:.0f} MB")
    return int(str(pk))


def _archives(profile: str, tmp: Path, data: Path, env: dict) -> tuple[int, int]:
    """The heavy archive and its cut-down second, imported and indexed: their backups' ids."""
    *_, archive = _import(_export(profile, tmp), data)
    print(f"archive ({profile}) {archive.stat().st_size / 1e6:.1f} MB")
    first = _build(data, env, "first archive")
    cut = tmp / "cut"
    cut.mkdir()
    subprocess.run([sys.executable, "-m", "trakt_emulator", "--user", f"{USER}:{profile}:vip", "--export",
                    f"{USER}:{cut}", "--export-truncate-history", str(KEPT_PLAYS)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    measured_manage(["trakt_import", str(cut / f"trakt-export-{USER}.zip"), "-u", USER], env)
    return first, _build(data, env, f"second archive ({KEPT_PLAYS:,} plays)")


def _measure(base: str, first: int, second: int, rng: random.Random, requests_: int) -> dict[str, list[float]]:
    session = _signed_in(base)
    url = f"{base}/backups/{first}/browse/"
    for _ in range(2):  # the first request of each worker process
        _timed(session, url, {})
    times = {"browse pages": [_timed(session, f"{url}{section}/", _random_filters(rng, section))
                              for section in (rng.choice(SECTIONS) for _ in range(requests_))],
             "title searches": [_timed(session, f"{url}history/", {"q": rng.choice(WORDS)})
                                for _ in range(requests_)]}
    compare = f"{base}/backups/{second}/compare/"
    times["comparisons"] = [_timed(session, compare, {"with": first, **_random_change(rng)})
                            for _ in range(max(20, requests_ // 10))]
    times["charts pages"] = [_timed(session, f"{base}/backups/{first}/charts/", {}) for _ in range(50)]
    return times


def _random_change(rng: random.Random) -> dict:
    if rng.random() < 0.3:
        return {}  # the first page: counts and the first section's changes
    return {"section": rng.choice(SECTIONS), "kind": rng.choice(("removed", "added", "changed")),
            "page": rng.randint(1, 5)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="heavy")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="browse-bench-") as tmp:
        data = Path(tmp) / "data"
        env = _environment(data)
        first, second = _archives(args.profile, Path(tmp), data, env)
        subprocess.run([sys.executable, "manage.py", "shell", "-c", ADMIN], cwd=ROOT, env=env, check=True)
        server, base = _serve(env)
        try:
            times = _measure(base, first, second, rng, args.requests)
        finally:
            server.terminate()
            server.wait()
        for name, measured in times.items():
            _report(name, measured)
    return 0


if __name__ == "__main__":
    sys.exit(main())
