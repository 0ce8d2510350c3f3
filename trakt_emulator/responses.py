"""The answers the emulator sends: JSON, empty, HTML and Cloudflare pages, and injected faults."""

import html
import json
import random
import time

import orjson

from .shared import iso

JSON_CT = "application/json; charset=utf-8"
HTML_CT = "text/html; charset=UTF-8"
REASONS = {412: "Precondition Failed", 418: "I'm a teapot", 420: "Enhance Your Calm", 423: "Locked",
           426: "Upgrade Required", 429: "Too Many Requests", 520: "Unknown Error", 521: "Web Server Is Down",
           522: "Connection Timed Out"}


class Resp:
    __slots__ = ("status", "body", "headers", "user", "value", "close")

    def __init__(self, status, body=b"", headers=None, user=None, value=None, close=False):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.user = user
        self.value = value
        self.close = close


def encode_json(value) -> bytes:
    """Compact UTF-8 JSON, as trakt sends it (orjson; Python's json, ASCII-escaped, for what orjson refuses)."""
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, separators=(",", ":")).encode()


def json_resp(status, value, headers=None, user=None):
    h = {"Content-Type": JSON_CT}
    h.update(headers or {})
    return Resp(status, encode_json(value), h, user=user, value=value)


def empty_resp(status, content_type=JSON_CT, headers=None, user=None):
    h = {"Content-Type": content_type}
    h.update(headers or {})
    return Resp(status, b"", h, user=user)


def html_resp(status, title, body_html, headers=None):
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title></head>\n"
            "<body>\n%s\n</body></html>\n" % (html.escape(title), body_html))
    h = {"Content-Type": HTML_CT}
    h.update(headers or {})
    return Resp(status, page.encode("utf-8"), h)


def cloudflare_resp(status=403):
    ray = "%016x-CDG" % random.getrandbits(64)
    texts = {403: ("Attention Required! | Cloudflare", "Sorry, you have been blocked",
                   "You are unable to access trakt.tv"),
             520: ("trakt.tv | 520: Web server is returning an unknown error", "Web server is returning an unknown error",
                   "Error code 520"),
             521: ("trakt.tv | 521: Web server is down", "Web server is down", "Error code 521"),
             522: ("trakt.tv | 522: Connection timed out", "Connection timed out", "Error code 522")}
    title, h1, h2 = texts.get(status, ("trakt.tv | %d" % status, "Something went wrong", "Error code %d" % status))
    body = ("<div id=\"cf-wrapper\"><div id=\"cf-error-details\" class=\"cf-error-details-wrapper\">\n"
            "<h1 data-translate=\"block_headline\">%s</h1>\n<h2 class=\"cf-subheadline\">%s</h2>\n"
            "<p>This website is using a security service to protect itself from online attacks.</p>\n"
            "<div class=\"cf-footer-item\">Cloudflare Ray ID: <strong class=\"font-semibold\">%s</strong></div>\n"
            "<span>Performance &amp; security by Cloudflare</span></div></div>"
            % (html.escape(h1), html.escape(h2), ray.split("-")[0]))
    r = html_resp(status, title, body, {"CF-RAY": ray, "Cache-Control": "private, max-age=0, no-store"})
    return r


def not_found_html():
    return html_resp(404, "The page you were looking for doesn't exist (404)",
                     "<h1>404</h1><p>The page you were looking for doesn't exist.</p>")


def error_resp(status, error, description, headers=None, user=None):
    return json_resp(status, {"error": error, "error_description": description}, headers, user)


def fault_response(kind, opts):
    extra = dict(opts.get("headers") or {})
    if kind == "html":
        r = cloudflare_resp(int(opts.get("status", 520)))
        r.headers.update(extra)
        return r
    if kind == "invalid_grant":
        return json_resp(int(opts.get("status", 400)),
                         {"error": "invalid_grant",
                          "error_description": opts.get("description", "The provided authorization grant is invalid, "
                                                        "expired, revoked, does not match the redirection URI used in "
                                                        "the authorization request, or was issued to another client.")},
                         extra)
    if kind == "429":
        status = 429
        ra = opts.get("retry_after", 1)
        body = opts.get("body", {"error": "rate_limit_exceeded", "error_description": "Rate limit exceeded"})
        if ra is not None:
            extra.setdefault("Retry-After", str(ra))
            extra.setdefault("X-Ratelimit", json.dumps({"name": "AUTHED_API_GET_LIMIT", "period": 300,
                                                        "limit": 1000, "remaining": 0,
                                                        "until": iso(time.time() + float(ra))},
                                                       separators=(",", ":")))
    else:  # "status"
        status = int(opts.get("status", 500))
        body = opts.get("body")
        if opts.get("retry_after") is not None:
            extra.setdefault("Retry-After", str(opts["retry_after"]))
    ct = opts.get("content_type")
    if body is None:
        raw = b""
        ct = ct or "text/plain; charset=utf-8"
    elif isinstance(body, (bytes, bytearray)):
        raw = bytes(body)
        ct = ct or "application/octet-stream"
    elif isinstance(body, str):
        raw = body.encode("utf-8")
        ct = ct or "text/plain; charset=utf-8"
    else:
        raw = encode_json(body)
        ct = ct or JSON_CT
    extra["Content-Type"] = ct
    return Resp(status, raw, extra)


PAGINATION_HEADERS = ("X-Pagination-Page", "X-Pagination-Limit", "X-Pagination-Page-Count", "X-Pagination-Item-Count")


def without_headers(resp, opts):
    """The real answer less some headers (`headers`: names, any case; default the four pagination headers)."""
    dropped = {name.lower() for name in opts.get("headers") or PAGINATION_HEADERS}
    resp.headers = {k: v for k, v in resp.headers.items() if k.lower() not in dropped}
    return resp


def wrong_shape(resp, opts):
    """A 2xx answer becomes a valid JSON value of the wrong type; errors pass through unchanged."""
    if not 200 <= resp.status < 300:
        return resp
    if "value" in opts:
        value = opts["value"]
    else:
        try:
            orig = json.loads(resp.body.decode("utf-8")) if resp.body else None
        except ValueError:
            orig = None
        if isinstance(orig, list):
            value = {"items": orig, "count": len(orig)} if orig else {}
        elif isinstance(orig, dict):
            value = [orig]
        else:
            value = {"unexpected": True}
    headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-type"}
    return json_resp(200 if resp.status == 204 else resp.status, value, headers, resp.user)
