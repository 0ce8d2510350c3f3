"""Run the trakt emulator as a standalone process.

    python -m trakt_emulator --port 8765 --auth-port 8766 --user alice:heavy --user bob:tiny:vip

Prints the API base URL, then the auth base URL, then ``READY api=<url> auth=<url>``
(each line flushed), and serves until SIGINT or SIGTERM.

    python -m trakt_emulator --user alice:medium:vip --export alice:/tmp/ [--export-csv] ...

writes alice's data as trakt's own export (``trakt-export-alice.zip``, see export.py), prints its path and
exits without serving.
"""

import argparse
import gc
import signal
import sys
import threading

from .profiles import PROFILES
from .shared import compact_number
from .server import OOB, Emulator


def parse_user(spec):
    """NAME:PROFILE[:vip][:locked][:seed=N] -> dict.  NAME may itself contain ':'."""
    parts = spec.split(":")
    flags = {"vip": False, "locked": False, "seed": None}
    while len(parts) > 1 and (parts[-1] in ("vip", "locked") or parts[-1].startswith("seed=")):
        tail = parts.pop()
        if tail.startswith("seed="):
            flags["seed"] = int(tail[5:])
        else:
            flags[tail] = True
    profile = "small"
    if len(parts) > 1 and parts[-1] in PROFILES:
        profile = parts.pop()
    name = ":".join(parts)
    if not name:
        raise argparse.ArgumentTypeError("empty user name in %r" % spec)
    return dict(flags, username=name, profile=profile)


def parse_rate(text):
    try:
        limit, period = text.split("/")
        return int(limit), float(period)
    except ValueError:
        raise argparse.ArgumentTypeError("rate limit must look like 1000/300")


# The app's callback as `make run` serves it, so that the Redirect way of connecting works out of the box.
APP_CALLBACKS = ("http://localhost:8000/connect/callback", "http://127.0.0.1:8000/connect/callback")
DEFAULT_REDIRECT_URIS = (OOB, "http://testserver/callback", *APP_CALLBACKS)

DEMO = """\
a demo, with the defaults:
  the app's settings   TRAKT_API_URL=http://127.0.0.1:8765 TRAKT_AUTH_URL=http://127.0.0.1:8766
  App setup            Client ID emulator-client-id, Client Secret emulator-client-secret
  trakt user           demo (profile small: 600 plays, ratings, lists, ...); more with --user
  device code          approve it at http://127.0.0.1:8766/activate with the code and user name demo
  PIN code             from http://127.0.0.1:8766/oauth/authorize (the app's PIN page links there)
  redirect             the app's callback at localhost:8000 and 127.0.0.1:8000 is registered
control API            http://127.0.0.1:8765/_emulator/ (users, faults, config, stats, requests)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trakt_emulator", description="Emulate api.trakt.tv and auth.trakt.tv",
                                     epilog=DEMO, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="API port (0: random)")
    parser.add_argument("--auth-port", type=int, default=None, help="OAuth port (default: port+1, or random if port is 0)")
    parser.add_argument("--client-id", default="emulator-client-id")
    parser.add_argument("--client-secret", default="emulator-client-secret")
    parser.add_argument("--redirect-uri", action="append", default=None,
                   help="registered redirect URI (repeatable; default: oob, http://testserver/callback and the "
                        "app's callback on localhost:8000 and 127.0.0.1:8000)")
    parser.add_argument("--user", action="append", type=parse_user, default=None,
                   help="NAME:PROFILE[:vip][:locked][:seed=N] (repeatable; default demo:small); "
                        "profiles: " + ", ".join(PROFILES))
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--token-lifetime", type=float, default=86400)
    parser.add_argument("--rate-limit", type=parse_rate, default=(1000, 300.0), help="LIMIT/PERIOD_SECONDS for GETs")
    parser.add_argument("--write-rate-limit", type=parse_rate, default=(1, 1.0), help="LIMIT/PERIOD_SECONDS for writes")
    parser.add_argument("--device-expires-in", type=float, default=600)
    parser.add_argument("--device-interval", type=float, default=5)
    parser.add_argument("--print-ready", action="store_true", help="(always on) print a READY line once serving")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    export = parser.add_argument_group("export", "write trakt's own data export of seeded users, then exit "
                                                 "without serving")
    export.add_argument("--export", action="append", metavar="USER:PATH", default=None,
                        help="write USER's trakt-export ZIP to PATH, a file or a folder (which gets "
                             "trakt-export-SLUG.zip); repeatable")
    export.add_argument("--export-csv", action="store_true", help="CSV files instead of JSON, as newer exports")
    export.add_argument("--export-subfolder", metavar="NAME", help="put the files inside this folder of the ZIP")
    export.add_argument("--export-truncate-history", type=int, metavar="N",
                        help="keep only the newest N plays in watched-history (trakt's 2026 truncation)")
    return parser


def split_export(spec, usernames):
    """USER:PATH -> (USER, PATH), or (None, None).  USER may itself contain ':' (as in --user), so the
    split is the one whose left side is a seeded user, the longest if several are."""
    for index in sorted((i for i, char in enumerate(spec) if char == ":"), reverse=True):
        if spec[:index] in usernames and spec[index + 1:]:
            return spec[:index], spec[index + 1:]
    return None, None


def run_exports(emu, args, usernames) -> int:
    """--export: write each ZIP, print its path; one line on stderr and a non-zero exit for a bad one."""
    for spec in args.export:
        username, path = split_export(spec, usernames)
        if username is None:
            print("--export %s: expected USER:PATH with one of the seeded users (%s)" % (spec, ", ".join(usernames)),
                  file=sys.stderr)
            return 2
        try:
            written = emu.export_zip(username, path, subfolder=args.export_subfolder, csv=args.export_csv,
                                     truncate_history=args.export_truncate_history)
        except OSError as exc:
            print("--export %s: cannot write %s: %s" % (spec, path, exc.strerror or exc), file=sys.stderr)
            return 1
        print(written, flush=True)
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    auth_port = args.auth_port
    if auth_port is None:
        auth_port = args.port + 1 if args.port else 0

    emu = Emulator(client_id=args.client_id, client_secret=args.client_secret,
                   redirect_uris=args.redirect_uri or list(DEFAULT_REDIRECT_URIS),
                   token_lifetime=compact_number(args.token_lifetime), latency=args.latency_ms / 1000.0,
                   rate_limit=args.rate_limit, write_rate_limit=args.write_rate_limit, host=args.host,
                   api_port=args.port, auth_port=auth_port, device_expires_in=compact_number(args.device_expires_in),
                   device_interval=compact_number(args.device_interval), verbose=args.verbose)
    users = args.user or [parse_user("demo:small")]
    for user in users:
        emu.add_user(user["username"], profile=user["profile"], seed=user["seed"], vip=user["vip"],
                     locked=user["locked"])
    if args.export:
        return run_exports(emu, args, [user["username"] for user in users])

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # A request whose latency has passed waits for the GIL while another renders a page: hand it over every
    # millisecond (not every 5), so that this one process answers close to the latency it was given.
    sys.setswitchinterval(0.001)
    # The seeded accounts are millions of objects that live as long as the process: keep them out of the
    # collector's full passes, which otherwise stop every request for a few hundred milliseconds.
    gc.collect()
    gc.freeze()
    emu.start()
    print(emu.api_url, flush=True)
    print(emu.auth_url, flush=True)
    print("READY api=%s auth=%s" % (emu.api_url, emu.auth_url), flush=True)
    try:
        stop.wait()
    finally:
        emu.stop()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
