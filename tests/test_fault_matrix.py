"""The fault matrix: every fault trakt can throw at us, at every phase where it can hit, against the emulator.

One table (MATRIX) says what each cell must do. "completes" means the connection or the backup goes
through and the archive holds every item the emulator has; "fails" means a sentence that says why, no
archive and no temporary file, and the account's grant in a known state:

* grant intact: still connected, a following backup completes with every item and a refresh works;
* must reconnect: marked so, and a new backup is refused with a sentence;
* nothing stored: a failed connection leaves no account behind;
* grant lost at trakt: trakt used the single-use refresh token but its answer never reached us (a lost or
  unusable answer); nothing can save that grant, and the app marks it for reconnection on its next use.

A restore's cell completes when the account then holds exactly the archive's plays and ratings (never a play
twice); one that fails must leave no play posted twice, and the same restore run again without the fault must
complete (it resumes).

Faults come from the emulator only; the code under test runs unchanged, in process. The matrix with the
outcomes is printed at the end of the run and written to test-artifacts/fault-matrix.txt.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backups.models import Account, AuthEvent, Backup, Restore
from backups.services.backup_run import run_backup, start_backup
from backups.services.restore_plan import second
from backups.services.restore_run import execute_restore, start_restore
from backups.services.grants import (
    ReconnectNeeded,
    ServiceError,
    connect_with_code,
    poll_device_login,
    refresh_grant,
    start_device_login,
)
from tests.support import ROOT, archive_copy, assert_archive_matches, connect_account

# Backups fetch pages on a pool of threads, each with its own database connection: data must be committed.
pytestmark = [pytest.mark.backend_neutral, pytest.mark.django_db(transaction=True)]

USER = "alice"
# Small enough to be quick, big enough for a middle page (/sync/history: 3 pages of 250) and a last page
# that is not the first one (the last list's items: 2 pages). No shared list: its items start when the
# collaborations index is in, which with one fetch thread may come after the last own list's page 2 (a race
# that made the "last" cells flaky).
SIZES = {"history": 600, "lists": 2, "list_items": [3, 300], "collaborations": 0}
TIMEOUT_FAULT_SECONDS = 2  # the emulator answers after this; the client gives up after TRAKT_TIMEOUT = 1

PHASES = ("exchange", "device", "refresh", "first", "middle", "last", "plan", "write", "last write")
PHASE_TITLES = ("code exchange", "device polling", "refresh", "first page", "middle page", "last page",
                "restore: plan", "restore: a write", "restore: last write")

INTACT = "grant intact"
RECONNECT = "must reconnect"
NOTHING = "nothing stored"
LOST = "grant lost at trakt, marked on next use"
RESUMES = "run again, it resumes: no duplicate"


@dataclass(frozen=True)
class Expect:
    result: str  # completes | fails
    reason: str = ""  # a fragment of the sentence the user gets
    grant: str = ""  # for failures, and for completions that still lose the grant

    def __str__(self) -> str:
        text = self.result if not self.reason else f"{self.result}: {self.reason!r}"
        return f"{text}, {self.grant}" if self.grant else text


OK = Expect("completes")
NA = None


def fails(reason: str, grant: str) -> Expect:
    return Expect("fails", reason, grant)


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str
    opts: dict = field(default_factory=dict)
    times: int | None = 1  # None: every matching request, retries included (an outage)


LOCKED_BODY = {"error": "locked_user", "error_description": "This user account is locked. Please contact support."}
EXPIRED_BODY = {"error": "invalid_token", "error_description": "The access token expired"}

FAULTS = (
    Fault("429 + Retry-After: 1", "429", {"retry_after": 1}),
    Fault("429, no Retry-After", "429", {"retry_after": None}),
    Fault("500", "status", {"status": 500}),
    Fault("502", "status", {"status": 502}),
    Fault("503", "status", {"status": 503}),
    Fault("504", "status", {"status": 504}),
    Fault("520 HTML", "html", {"status": 520}),
    Fault("521 HTML", "html", {"status": 521}),
    Fault("522 HTML", "html", {"status": 522}),
    Fault("503 outage (every try)", "status", {"status": 503}, times=None),
    Fault("connection reset", "reset"),
    Fault("read timeout", "timeout", {"seconds": TIMEOUT_FAULT_SECONDS}),
    Fault("truncated body", "truncated"),
    Fault("damaged gzip body", "status",
          {"status": 200, "body": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 16,  # invalid deflate
           "content_type": "application/json",
           "headers": {"Content-Encoding": "gzip"}}),
    Fault("JSON of the wrong shape", "wrong_shape"),
    Fault("401 mid-run", "status", {"status": 401, "body": EXPIRED_BODY}),
    Fault("400 invalid_grant", "invalid_grant", {"status": 400}),
    Fault("401 invalid_grant", "invalid_grant", {"status": 401}),
    Fault("403 HTML (blocked)", "html", {"status": 403}),
    Fault("423 locked", "status", {"status": 423, "body": LOCKED_BODY}),
)

BAD_CODE = "did not accept that code"
REJECTED = "rejected the saved grant"
OUTAGE = "having problems (503) after 7 attempts"
# A refresh holds the account's row lock (on SQLite the database's write lock): it gives up sooner.
REFRESH_OUTAGE = "having problems (503) after 3 attempts"
BLOCKED = "blocked the request (403)"

RESTORE_OUTAGE = "did not answer 4 writes of Watch history in a row"
BACKUP_FIRST = "The backup taken first (the account as it is now) failed"

# fault: (code exchange, device polling, refresh, first page, middle page, last page,
#         restore: plan (its safety backup), restore: a write (the history's), restore: last write (a rating's))
MATRIX: dict[str, tuple[Expect | None, ...]] = {
    "429 + Retry-After: 1": (OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "429, no Retry-After": (OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "500": (OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "502": (OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "503": (OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "504": (OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "520 HTML": (OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "521 HTML": (OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "522 HTML": (OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "503 outage (every try)": (
        fails(OUTAGE, NOTHING), fails("cannot be reached right now", NOTHING), fails(REFRESH_OUTAGE, INTACT),
        fails(OUTAGE, INTACT), fails(OUTAGE, INTACT), fails(OUTAGE, INTACT),
        fails(BACKUP_FIRST, RESUMES), fails(RESTORE_OUTAGE, RESUMES), fails(OUTAGE, RESUMES),
    ),
    "connection reset": (OK, OK, OK, OK, OK, OK, OK, OK, OK),
    # trakt handles a request the client gave up on: a late refresh replays the single-use refresh token
    "read timeout": (OK, OK, Expect("completes", grant=LOST), OK, OK, OK, OK, OK, OK),
    # trakt acted (code used, device code used, refresh token used, play recorded) but its answer was cut off
    "truncated body": (
        fails(BAD_CODE, NOTHING), fails("used already", NOTHING), fails(REJECTED, RECONNECT), OK, OK, OK,
        OK, OK, OK,
    ),
    "damaged gzip body": (OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "JSON of the wrong shape": (
        fails("missing the tokens", NOTHING), fails("answer was damaged", NOTHING),
        fails("missing the tokens", LOST), fails("unexpected answer for /sync/last_activities", INTACT),
        fails("unexpected answer for /sync/history", INTACT), fails("unexpected answer for /users/me/lists/", INTACT),
        fails("unexpected answer for /sync/last_activities", RESUMES), OK, OK,  # a write's answer is only counted
    ),
    "401 mid-run": (
        fails(BAD_CODE, NOTHING), fails("answered 401", NOTHING), fails(REJECTED, RECONNECT), OK, OK, OK,
        OK, OK, OK,
    ),
    # an invalid_grant on a data page or a write is not something trakt sends: n/a
    "400 invalid_grant": (fails(BAD_CODE, NOTHING), OK, fails(REJECTED, RECONNECT), NA, NA, NA, NA, NA, NA),
    "401 invalid_grant": (fails(BAD_CODE, NOTHING), fails("answered 401", NOTHING), fails(REJECTED, RECONNECT),
                          NA, NA, NA, NA, NA, NA),
    "403 HTML (blocked)": (
        fails(BLOCKED, NOTHING), OK, fails(BLOCKED, INTACT), fails(BLOCKED, INTACT), fails(BLOCKED, INTACT),
        fails(BLOCKED, INTACT), fails(BLOCKED, RESUMES), fails(BLOCKED, RESUMES), fails(BLOCKED, RESUMES),
    ),
    "423 locked": (
        fails("locked", NOTHING), fails("locked", NOTHING), fails("locked", INTACT), fails("locked", INTACT),
        fails("locked", INTACT), fails("locked", INTACT), fails("locked", RESUMES), fails("locked", RESUMES),
        fails("locked", RESUMES),
    ),
}

XFAIL: dict[tuple[str, str], str] = {}  # cells awaiting a fix: none

assert set(MATRIX) == {f.name for f in FAULTS} and all(len(row) == len(PHASES) for row in MATRIX.values())
FAULT_BY_NAME = {f.name: f for f in FAULTS}
CELLS = [
    pytest.param(fault.name, phase, id=f"{fault.name}|{phase}",
                 marks=[pytest.mark.xfail(strict=True, reason=XFAIL[fault.name, phase])]
                 if (fault.name, phase) in XFAIL else [])
    for fault in FAULTS
    for phase, expected in zip(PHASES, MATRIX[fault.name])
    if expected is not NA
]


@dataclass
class Observed:
    result: str
    reason: str = ""
    grant: str = ""


# -- what each phase does --------------------------------------------------------------------------------


def _inject(emu, fault: Fault, path: str, method: str, after: int = 0):
    return emu.inject(fault.kind, path=path, method=method, after=after, times=fault.times, **fault.opts)


def _settle(emu, spec) -> None:
    """Wait for requests the client gave up on (read timeouts) to reach the emulator, then stop the fault."""
    spec.cancel()
    if spec.kind != "timeout":
        return
    deadline = time.monotonic() + TIMEOUT_FAULT_SECONDS + 10
    while sum(1 for e in emu.requests if e.get("fault") == "timeout") < spec.fired:
        assert time.monotonic() < deadline, "a timed-out request never reached the emulator"
        time.sleep(0.05)


def _archive_files(settings) -> list[Path]:
    root = Path(settings.ARCHIVE_DIR)
    return sorted(p for p in root.rglob("*")) if root.exists() else []


def _assert_no_leftovers(settings) -> None:
    for path in _archive_files(settings):
        assert not path.name.startswith("."), f"temporary folder left behind: {path}"
        assert not path.name.endswith((".tmp", ".partial")), f"temporary file left behind: {path}"


def _assert_complete(emu, backup: Backup, tmp_path: Path) -> None:
    assert backup.status == Backup.Status.SUCCESS, backup.error
    assert_archive_matches(archive_copy(backup.archive_key, tmp_path / "copies"), emu, USER)


def _nothing_stored() -> str:
    if Account.objects.exists() or AuthEvent.objects.exists():
        return "stored an account or an auth event"
    return NOTHING


def _grant_state(emu, account: Account, tmp_path: Path, settings) -> str:
    """Intact means: connected, a following backup completes with every item, and a refresh works."""
    account.refresh_from_db()
    if account.status == Account.Status.NEEDS_RECONNECT:
        with pytest.raises(ReconnectNeeded, match="connected again"):
            start_backup(account)
        return RECONNECT
    assert account.status == Account.Status.CONNECTED
    backup = run_backup(account)
    if backup.status == Backup.Status.SUCCESS:
        _assert_complete(emu, backup, tmp_path)
        try:
            refresh_grant(account, force=True)
        except ReconnectNeeded:
            return LOST
        return INTACT
    account.refresh_from_db()
    _assert_no_leftovers(settings)
    if account.status == Account.Status.NEEDS_RECONNECT and "connect the account again" in backup.error:
        return LOST
    return f"broken: a following backup failed: {backup.error}"


def _exchange(emu, fault, owner, tmp_path, settings) -> Observed:
    emu.add_user(USER, profile="tiny", sizes=SIZES)
    spec = _inject(emu, fault, r"^/oauth/token$", "POST")
    code = emu.issue_code(USER)
    try:
        account = connect_with_code(code, owner, expected_username=USER)
    except ServiceError as exc:
        _settle(emu, spec)
        return Observed("fails", str(exc), _nothing_stored())
    finally:
        assert spec.fired, "the fault never fired: this cell proves nothing"
    _settle(emu, spec)
    return Observed("completes", "", _grant_state(emu, account, tmp_path, settings))


def _device(emu, fault, owner, tmp_path, settings) -> Observed:
    emu.add_user(USER, profile="tiny", sizes=SIZES)
    emu.device_interval = 0  # the test polls back to back; trakt's pacing is not under test here
    login = start_device_login()
    emu.approve_device(login["user_code"], USER)
    spec = _inject(emu, fault, r"^/oauth/device/token$", "POST")
    try:
        for _ in range(4):  # what the command and the web page do: poll until an answer that is not "wait"
            try:
                poll = poll_device_login(login["device_code"], owner, expected_username=USER)
            except ServiceError as exc:
                _settle(emu, spec)
                return Observed("fails", str(exc), _nothing_stored())
            if poll.state == "connected":
                _settle(emu, spec)
                return Observed("completes", "", _grant_state(emu, poll.account, tmp_path, settings))
            if poll.state not in ("pending", "slow_down"):
                _settle(emu, spec)
                return Observed("fails", poll.message, _nothing_stored())
        return Observed("fails", "still waiting after 4 polls", _nothing_stored())
    finally:
        assert spec.fired, "the fault never fired: this cell proves nothing"


def _refresh(emu, fault, owner, tmp_path, settings) -> Observed:
    account = connect_account(emu, USER, owner, profile="tiny", sizes=SIZES)
    spec = _inject(emu, fault, r"^/oauth/token$", "POST")
    try:
        refresh_grant(account, force=True)
    except ServiceError as exc:
        _settle(emu, spec)
        assert spec.fired
        return Observed("fails", str(exc), _grant_state(emu, account, tmp_path, settings))
    _settle(emu, spec)
    assert spec.fired, "the fault never fired: this cell proves nothing"
    return Observed("completes", "", _grant_state(emu, account, tmp_path, settings))


def _target(emu, phase) -> tuple[str, int]:
    """(path regex, matching requests to let through) of the phase's page."""
    if phase == "first":
        return r"^/sync/last_activities$", 0  # read first, alone, before anything else (services/fetcher.py)
    if phase == "middle":
        return r"^/sync/history$", 1  # page 2 or 3 of 3, while other categories are in flight
    # per-list items start once users/lists is in, the last list last: its page 2 of 2 is the backup's last
    # request (with one fetch thread; with several, one of the last few)
    last_list = emu.user_info(USER)["lists"][-1]
    return rf"^/users/me/lists/{last_list}/items$", 1


def _backup(phase):
    def run(emu, fault, owner, tmp_path, settings) -> Observed:
        account = connect_account(emu, USER, owner, profile="tiny", sizes=SIZES)
        path, after = _target(emu, phase)
        concurrency = settings.TRAKT_CONCURRENCY
        if phase == "last":
            settings.TRAKT_CONCURRENCY = 1  # so that "last" is exactly the last request
        spec = _inject(emu, fault, path, "GET", after=after)
        backup = run_backup(account)
        _settle(emu, spec)
        assert spec.fired, "the fault never fired: this cell proves nothing"
        if phase == "last":  # the fault hit the backup's last request: only its retries came after it
            gets = [e for e in emu.requests if e["method"] == "GET"]
            hit = next(i for i, e in enumerate(gets) if e.get("fault"))
            assert gets[hit]["query"].get("page") == "2"
            assert {e["path"] for e in gets[hit:]} == {gets[hit]["path"]}, "requests came after the last page"
        settings.TRAKT_CONCURRENCY = concurrency
        if backup.status == Backup.Status.SUCCESS:
            _assert_complete(emu, backup, tmp_path)
            _assert_no_leftovers(settings)
            return Observed("completes")
        assert backup.status == Backup.Status.FAILED and backup.error and not backup.archive_name
        # the run makes the account's folder before its first request; a failure leaves it, and nothing in it
        assert _archive_files(settings) == [Path(settings.ARCHIVE_DIR) / account.archive_folder], (
            f"a failed backup left files: {_archive_files(settings)}"
        )
        return Observed("fails", backup.error, _grant_state(emu, account, tmp_path, settings))

    return run


# -- restore: a bad sync removed a few plays and the movie ratings; the restore writes the history, then them ------

RESTORED = ("sync/history", "sync/ratings/movies")


def _restored_state(emu) -> tuple[Counter, Counter]:
    data = emu.user_data(USER)
    plays = Counter((i["type"], i[i["type"]]["ids"]["trakt"], second(i["watched_at"])) for i in data["/sync/history"])
    ratings = Counter((i["movie"]["ids"]["trakt"], i["rating"]) for i in data["/sync/ratings/movies"])
    return plays, ratings


def _restore_target(phase) -> tuple[str, str]:
    if phase == "plan":  # the safety backup's first request
        return r"^/sync/last_activities$", "GET"
    return (r"^/sync/history$", "POST") if phase == "write" else (r"^/sync/ratings$", "POST")


def _restore(phase):
    def run(emu, fault, owner, tmp_path, settings) -> Observed:
        account = connect_account(emu, USER, owner, profile="tiny", sizes=SIZES)
        assert run_backup(account).status == Backup.Status.SUCCESS
        original = _restored_state(emu)
        for play in emu.user_data(USER)["/sync/history"][:3]:
            emu.remove_history_item(USER, play["id"])
        emu.state.serve_write(USER, "POST", "/sync/ratings/remove", {"movies": [
            {"ids": r["movie"]["ids"]} for r in emu.user_data(USER)["/sync/ratings/movies"]]})
        settings.TRAKT_TIMEOUT = 1  # a lost answer is read back after twice the timeout: keep it short
        path, method = _restore_target(phase)
        emu.reset_log()
        spec = _inject(emu, fault, path, method)
        restore, _ = execute_restore(start_restore(account, only=list(RESTORED)))
        _settle(emu, spec)
        assert spec.fired, "the fault never fired: this cell proves nothing"
        if phase == "last write":  # the fault hit the restore's last request: only its retries came after it
            api = [e for e in emu.requests if e["host"] == "api"]
            hit = next(i for i, e in enumerate(api) if e.get("fault"))
            assert {e["path"] for e in api[hit:]} <= {path.strip("^$"), "/users/settings"}, "requests came after"
        if restore.status == Restore.Status.SUCCESS:
            assert _restored_state(emu) == original, "the account does not hold the archive's plays and ratings"
            return Observed("completes")
        assert restore.status == Restore.Status.FAILED and restore.error, restore.status
        assert sum(_restored_state(emu)[0].values()) <= sum(original[0].values()), "a play was posted twice"
        again, _ = execute_restore(start_restore(account, only=list(RESTORED)))  # run again, without the fault
        resumed = again.status == Restore.Status.SUCCESS and _restored_state(emu) == original
        return Observed("fails", restore.error, RESUMES if resumed else f"broken: {again.status} {again.error}")

    return run


RUNNERS = {"exchange": _exchange, "device": _device, "refresh": _refresh,
           **{phase: _backup(phase) for phase in ("first", "middle", "last")},
           **{phase: _restore(phase) for phase in ("plan", "write", "last write")}}


# -- the suite -------------------------------------------------------------------------------------------


@pytest.fixture
def fast_client(settings):
    # one process runs a hundred backups: the per-account request budget is not under test here
    settings.TRAKT_RATE_LIMIT = 1_000_000
    return settings


@pytest.mark.parametrize("fault_name, phase", CELLS)
def test_fault_cell(fault_name, phase, trakt, admin_user, fast_client, tmp_path, request):
    settings = fast_client
    fault = FAULT_BY_NAME[fault_name]
    expected = MATRIX[fault_name][PHASES.index(phase)]
    if fault.kind == "timeout":
        settings.TRAKT_TIMEOUT = 1
    try:
        observed = RUNNERS[phase](trakt, fault, admin_user, tmp_path, settings)
    except BaseException as exc:
        _record(request, fault_name, phase, expected, None, exc)
        raise
    _record(request, fault_name, phase, expected, observed)
    assert _matches(expected, observed), f"expected {expected}, observed {observed}"
    if observed.result == "fails":
        assert observed.reason.strip().endswith((".", ")", "…")) and "Traceback" not in observed.reason, observed


def _matches(expected: Expect, observed: Observed) -> bool:
    return (observed.result == expected.result and expected.reason.lower() in observed.reason.lower()
            and (observed.grant == expected.grant or (not expected.grant and observed.grant in ("", INTACT))))


# -- collecting the outcomes and printing the matrix ---------------------------------------------------------

_LOCAL_RUN = uuid.uuid4().hex
ARTIFACTS = ROOT / "test-artifacts"


def _results_dir(config) -> Path:
    run = getattr(config, "workerinput", {}).get("testrunuid") or _LOCAL_RUN
    folder = ARTIFACTS / "fault-matrix-cells" / run
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _record(request, fault_name, phase, expected, observed, error: BaseException | None = None) -> None:
    xfail = XFAIL.get((fault_name, phase))
    if observed is None:
        actual, reason = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}", ""
    else:
        actual = str(Expect(observed.result, "", "" if observed.grant == INTACT and observed.result == "completes"
                            else observed.grant))
        reason = observed.reason
    matched = observed is not None and _matches(expected, observed)
    entry = {"fault": fault_name, "phase": phase, "expected": str(expected), "actual": actual, "reason": reason,
             "verdict": "as expected" if matched else ("XFAIL: " + xfail if xfail else "MISMATCH")}
    folder = _results_dir(request.config)
    (folder / f"{FAULTS.index(FAULT_BY_NAME[fault_name]):02d}-{phase}.json").write_text(json.dumps(entry))
    if len(list(folder.glob("*.json"))) == len(CELLS):
        try:
            os.close(os.open(folder / "printed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        _print(request.config, _render(folder))
        shutil.rmtree(folder, ignore_errors=True)
        for stale in folder.parent.iterdir():  # cells of interrupted or partial runs
            if stale.stat().st_mtime < time.time() - 86400:
                shutil.rmtree(stale, ignore_errors=True)


def _short(entry: dict | None, expected: Expect | None) -> str:
    if expected is NA:
        return "n/a"
    if entry is None:
        return "not run"
    if entry["verdict"].startswith("XFAIL"):
        return "XFAIL (lead fix)"
    if entry["verdict"] == "MISMATCH":
        return "MISMATCH"
    if expected.result == "completes":
        return "completes" if not expected.grant else "completes, lost*"
    return {INTACT: "fails, intact", RECONNECT: "fails, reconnect", NOTHING: "fails, no account",
            LOST: "fails, lost*", RESUMES: "fails, resumes"}[expected.grant]


def _render(folder: Path) -> str:
    entries = {}
    for path in folder.glob("*.json"):
        entry = json.loads(path.read_text())
        entries[entry["fault"], entry["phase"]] = entry
    width = max(len(f.name) for f in FAULTS)
    lines = [" | ".join([f"{'fault':<{width}}", *(f"{t:<17}" for t in PHASE_TITLES)]).rstrip()]
    lines.append("-" * len(lines[0]))
    for fault in FAULTS:
        cells = [_short(entries.get((fault.name, p)), e) for p, e in zip(PHASES, MATRIX[fault.name])]
        lines.append(" | ".join([f"{fault.name:<{width}}", *(f"{c:<17}" for c in cells)]).rstrip())
    run = list(entries.values())
    good = [e for e in run if e["verdict"] == "as expected"]
    completes = sum(1 for e in good if e["expected"].startswith("completes"))
    clean = sum(1 for e in good if e["expected"].startswith("fails"))
    lost = sum(1 for e in good if e["expected"].endswith(LOST))
    marked = sum(1 for e in good if e["expected"].endswith(RECONNECT))
    xfails = sum(1 for e in run if e["verdict"].startswith("XFAIL"))
    mismatches = sum(1 for e in run if e["verdict"] == "MISMATCH")
    na = sum(1 for row in MATRIX.values() for e in row if e is NA)
    summary = (f"Fault matrix: {len(FAULTS)} faults x {len(PHASES)} phases = {len(FAULTS) * len(PHASES)} cells "
               f"({len(run)} run, {na} n/a): {completes} complete with every item, {clean} fail cleanly (a sentence, "
               f"no archive, no temporary file), {xfails} xfail awaiting a lead fix, {mismatches} mismatch. "
               f"No archive lost or damaged in any cell; the grant is kept everywhere except {marked} cells where "
               f"trakt rejects it (marked at once) and {lost} where trakt used the single-use refresh token and "
               f"its answer was lost (marked on next use).")
    legend = ("intact: still connected, next backup complete, refresh works; reconnect: marked, new backups "
              "refused with a sentence; no account: nothing stored; lost*: trakt used the single-use refresh "
              "token but its answer was lost or unusable, the grant is marked on its next use.")
    reasons = ["", "Recorded reasons of the failing cells:"]
    for fault in FAULTS:
        for phase, title in zip(PHASES, PHASE_TITLES):
            entry = entries.get((fault.name, phase))
            if entry and entry["reason"]:
                reasons.append(f"  {fault.name} @ {title}: {entry['reason']}")
    odd = [f"  {e['fault']} @ {e['phase']}: expected {e['expected']}; got {e['actual']}. {e['verdict']}"
           for e in run if e["verdict"] != "as expected"]
    table = "\n".join([summary, *lines, legend, *(["Not as expected:", *odd] if odd else [])])
    (ARTIFACTS / "fault-matrix.txt").write_text(table + "\n" + "\n".join(reasons) + "\n")
    return table + "\n(reasons: test-artifacts/fault-matrix.txt)"


def _print(config, text: str) -> None:
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    with capture.global_and_fixture_disabled():
        if reporter is not None and not hasattr(config, "workerinput"):
            reporter.write_line("")
            for line in text.splitlines():
                reporter.write_line(line)
        else:  # a pytest-xdist worker's reporter talks to the controller; its stderr is the terminal's
            sys.stderr.write("\n" + text + "\n")
            sys.stderr.flush()
