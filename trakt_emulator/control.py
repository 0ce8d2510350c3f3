"""The control API under ``<api_url>/_emulator/``: the Emulator's Python API over HTTP."""

import json
from urllib.parse import unquote

from .pages import OOB
from .responses import error_resp, json_resp


def _add_user(emu, parts, data):
    return 201, emu.add_user(data["username"], profile=data.get("profile", "small"), seed=data.get("seed"),
                             vip=data.get("vip", False), locked=data.get("locked", False), sizes=data.get("sizes"))


def _get_users(emu, parts, data):
    if len(parts) == 1:
        with emu.state.lock:
            names = list(emu.state.users)
        return 200, [emu.state.user_info(name) for name in names]
    if len(parts) == 3 and parts[2] == "data":
        return 200, emu.user_data(parts[1])
    if len(parts) == 2:
        return 200, emu.state.user_info(parts[1])
    return None


def _set_user_flags(emu, parts, data):
    emu.state.set_user_flags(data["username"], vip=data.get("vip"), locked=data.get("locked"))
    return 200, emu.state.user_info(data["username"])


def _device(emu, parts, data):
    if parts[1:] == ["approve"]:
        emu.approve_device(data["user_code"], data["username"])
        return 200, {"ok": True}
    if parts[1:] == ["deny"]:
        emu.deny_device(data["user_code"])
        return 200, {"ok": True}
    return None


def _add_fault(emu, parts, data):
    spec = dict(data)
    kind = spec.pop("kind", None) or spec.pop("fault", None)
    return 201, emu.inject(kind, **spec).to_dict()


def _list_faults(emu, parts, data):
    with emu.state.lock:
        return 200, [fault.to_dict() for fault in emu.state.faults]


def _set_config(emu, parts, data):
    if "latency" in data:
        emu.set_latency(float(data["latency"]))
    if "token_lifetime" in data:
        emu.set_token_lifetime(data["token_lifetime"])
    if "rate_limit" in data:
        emu.set_rate_limit(*data["rate_limit"])
    if "write_rate_limit" in data:
        emu.set_write_rate_limit(data["write_rate_limit"][0], data["write_rate_limit"][1])
    for key in ("device_expires_in", "device_interval", "code_lifetime", "revoke_old_access_on_refresh", "date_offset",
                "max_limit", "require_user_agent"):
        if key in data:
            setattr(emu, key, data[key])
    if "advance_clock" in data:
        emu.advance_clock(float(data["advance_clock"]))
    return 200, emu.config()


def _ok(action):
    def run(emu, parts, data):
        action(emu)
        return 200, {"ok": True}
    return run


# (method, first path word) -> handler(emu, path words, JSON body) -> (status, value), or None for 404.
ROUTES = {
    ("POST", "users"): lambda emu, parts, data: _add_user(emu, parts, data) if len(parts) == 1 else None,
    ("GET", "users"): _get_users,
    ("POST", "user_flags"): _set_user_flags,
    ("POST", "grant"): lambda emu, parts, data: (200, emu.grant(data["username"])),
    ("POST", "code"): lambda emu, parts, data: (200, {"code": emu.issue_code(
        data["username"], data.get("redirect_uri", OOB), data.get("code_challenge"))}),
    ("POST", "device"): _device,
    ("POST", "expire"): lambda emu, parts, data: (200, {"expired": emu.expire_access_tokens(data["username"])}),
    ("POST", "revoke"): lambda emu, parts, data: (200, {"revoked": emu.revoke_grants(data["username"])}),
    ("POST", "plays"): lambda emu, parts, data: (200, emu.add_plays(data["username"], int(data.get("n", 1)))),
    ("POST", "remove"): lambda emu, parts, data: (200, {"removed": emu.remove_history_item(data["username"],
                                                                                          data["id"])}),
    ("POST", "faults"): _add_fault,
    ("GET", "faults"): _list_faults,
    ("DELETE", "faults"): _ok(lambda emu: emu.clear_faults()),
    ("POST", "config"): _set_config,
    ("GET", "config"): lambda emu, parts, data: (200, emu.config()),
    ("GET", "stats"): lambda emu, parts, data: (200, emu.stats()),
    ("GET", "requests"): lambda emu, parts, data: (200, emu.requests),
    ("POST", "reset_log"): _ok(lambda emu: emu.reset_log()),
}


def handle_control(emu, method: str, path: str, query: dict, body: bytes):
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return error_resp(400, "bad_request", "invalid JSON")
    if not isinstance(data, dict):
        return error_resp(400, "bad_request", "JSON object expected")
    parts = [unquote(p) for p in path[len("/_emulator/"):].strip("/").split("/")]
    handler = ROUTES.get((method, parts[0] if parts else ""))
    try:
        answer = handler(emu, parts, data) if handler else None
    except KeyError as exc:
        return error_resp(404, "not_found", str(exc.args[0] if exc.args else exc))
    except (ValueError, TypeError) as exc:
        return error_resp(400, "bad_request", str(exc))
    if answer is None:
        return error_resp(404, "not_found", "unknown control endpoint %s %s" % (method, path))
    return json_resp(*answer)
