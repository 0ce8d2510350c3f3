"""Tests of the trakt emulator alone (no Django, no database)."""

import base64
import hashlib
import json
import re
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from urllib3.util import SKIP_HEADER

from tests.support import CLIENT_ID, CLIENT_SECRET, OOB, ROOT

pytestmark = pytest.mark.backend_neutral

CID, SECRET = CLIENT_ID, CLIENT_SECRET
CALLBACK = "http://testserver/connect/callback"  # the second redirect URI of the shared `emulator` fixture


@pytest.fixture
def emu(emulator):
    """The shared emulator, on its own (no app), with alice's tiny account seeded."""
    emulator.add_user("alice", profile="tiny", seed=1)
    return emulator


def session(token=None, ua="pytest-trakt/1.0"):
    s = requests.Session()
    s.headers.update({"trakt-api-key": CID, "trakt-api-version": "2", "Content-Type": "application/json",
                      "User-Agent": ua})
    if token:
        s.headers["Authorization"] = "Bearer " + (token["access_token"] if isinstance(token, dict) else token)
    return s


def client_body(**kw):
    return dict(kw, client_id=CID, client_secret=SECRET)


# --------------------------------------------------------------------------- request basics


def test_missing_user_agent_is_a_cloudflare_403_html_page(emu):
    s = session(emu.grant("alice"))
    s.headers["User-Agent"] = SKIP_HEADER    # urllib3 then sends no User-Agent at all
    for url in (emu.api_url + "/sync/history", emu.auth_url + "/oauth/token"):
        r = s.get(url) if "sync" in url else s.post(url, json={})
        assert r.status_code == 403
        assert r.headers["Content-Type"].startswith("text/html")
        assert "Cloudflare" in r.text
        with pytest.raises(ValueError):
            r.json()


def test_api_key_version_content_type_and_bearer_checks(emu):
    tok = emu.grant("alice")
    s = session(tok)
    assert s.get(emu.api_url + "/sync/history", headers={"trakt-api-key": "nope"}).status_code == 403
    r = s.get(emu.api_url + "/sync/history", headers={"trakt-api-version": None})
    assert r.status_code == 400
    r = s.post(emu.api_url + "/sync/history", data="movies=1",
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 412
    r = session().get(emu.api_url + "/sync/history")
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    r = session("f" * 64).get(emu.api_url + "/sync/history")
    assert r.status_code == 401
    assert s.get(emu.api_url + "/sync/nothing-here").status_code == 404
    assert s.get(emu.api_url + "/users/someone-else/history").status_code == 404


def test_oauth_and_api_hosts_are_not_interchangeable(emu):
    s = session()
    r = s.post(emu.api_url + "/oauth/token", json=client_body(grant_type="refresh_token", refresh_token="x"))
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
    r = s.post(emu.api_url + "/oauth/device/code", json={"client_id": CID})
    assert r.status_code == 404
    r = session(emu.grant("alice")).get(emu.auth_url + "/sync/history")
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")


# --------------------------------------------------------------------------- endpoints & pagination

ENDPOINTS = [
    "/users/settings", "/users/me?extended=full", "/users/me/stats", "/sync/last_activities", "/sync/history",
    "/sync/watched/movies", "/sync/watched/shows", "/sync/watched/shows?extended=progress",
    "/sync/watched/shows?extended=progress&specials=true", "/sync/collection/movies?extended=metadata",
    "/sync/collection/shows", "/users/me/comments/all/all", "/sync/ratings/movies", "/sync/ratings/shows",
    "/sync/ratings/seasons", "/sync/ratings/episodes", "/sync/ratings", "/sync/watchlist", "/sync/favorites",
    "/sync/playback", "/users/hidden/calendar", "/users/hidden/progress_watched",
    "/users/hidden/progress_collected", "/users/hidden/recommendations", "/users/hidden/comments",
    "/users/hidden/dropped", "/users/me/lists", "/users/me/lists/collaborations",
    "/users/me/comments/all/all?include_replies=true", "/users/me/likes/comments", "/users/me/likes/lists",
    "/users/likes/comments", "/users/likes/lists", "/users/me/notes/all", "/users/me/followers",
    "/users/me/following", "/users/me/friends", "/users/requests", "/users/blocked",
]


def test_every_endpoint_answers_for_a_tiny_user(emu):
    s = session(emu.grant("alice"))
    data = emu.user_data("alice")
    for ep in ENDPOINTS:
        r = s.get(emu.api_url + ep)
        assert r.status_code == 200, ep
        assert r.headers["Content-Type"].startswith("application/json"), ep
        body = r.json()
        assert body, "%s is empty" % ep
        key = ep if "?" in ep else ep + "?extended=min"
        key = key if key in data else ep.replace("/users/likes/", "/users/me/likes/")
        assert body == data[key], ep
    # plain keys hold the richest variant (what a complete backup fetches)
    assert data["/sync/watched/shows"] == data["/sync/watched/shows?extended=progress&specials=true"]
    assert all("seasons" in x for x in data["/sync/watched/shows"])
    assert all("metadata" in x for x in data["/sync/collection/movies"])
    assert "joined_at" in data["/users/me"]
    lists = s.get(emu.api_url + "/users/me/lists").json()
    assert len(lists) == 2
    assert "X-Pagination-Page" not in s.get(emu.api_url + "/users/me/lists").headers
    for lst in lists:
        assert isinstance(lst["ids"]["trakt"], int) and lst["ids"]["slug"]
        for ref in (lst["ids"]["trakt"], lst["ids"]["slug"]):
            r = s.get(emu.api_url + "/users/me/lists/%s/items" % ref)
            assert r.status_code == 200 and len(r.json()) == lst["item_count"]
            assert r.json() == data["/users/me/lists/%d/items" % lst["ids"]["trakt"]]
    collab = s.get(emu.api_url + "/users/me/lists/collaborations").json()[0]
    r = s.get(emu.api_url + "/users/%s/lists/%d/items" % (collab["user"]["ids"]["slug"], collab["ids"]["trakt"]))
    assert r.status_code == 200 and r.json()
    settings = s.get(emu.api_url + "/users/settings").json()
    assert "browsing" not in settings and "sharing_text" not in settings  # only with extended=sharing,browsing
    rich = s.get(emu.api_url + "/users/settings", params={"extended": "sharing,browsing"}).json()
    assert rich == {**settings, "browsing": rich["browsing"], "sharing_text": rich["sharing_text"]}
    resets = s.get(emu.api_url + "/users/hidden/progress_watched_reset").json()
    assert resets and all(reset["type"] == "show" and reset["hidden_at"] for reset in resets)
    slug = settings["user"]["ids"]["slug"]
    assert slug == "alice" and settings["user"]["ids"]["uuid"] and settings["user"]["vip"] is False
    assert "limits" in settings and "account" in settings
    assert s.get(emu.api_url + "/users/%s/stats" % slug).json() == s.get(emu.api_url + "/users/me/stats").json()
    act = s.get(emu.api_url + "/sync/last_activities").json()
    for group in ("movies", "episodes", "shows", "seasons", "comments", "lists", "watchlist", "favorites",
                  "collaborations", "account", "saved_filters", "notes"):
        assert group in act
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", act["all"])


def test_vip_locked_and_foreign_lists(emu):
    emu.add_user("vera", profile="tiny", vip=True)
    emu.add_user("lou", profile="tiny", locked=True)
    s = session(emu.grant("alice"))
    r = s.get(emu.api_url + "/users/saved_filters/movies")
    assert r.status_code == 426 and r.json()["error"]
    v = session(emu.grant("vera"))
    for sec in ("movies", "shows", "calendars", "search"):
        r = v.get(emu.api_url + "/users/saved_filters/" + sec)
        assert r.status_code == 200 and r.json() and "X-Pagination-Page-Count" in r.headers
    assert session(emu.grant("lou")).get(emu.api_url + "/sync/history").status_code == 423
    vera_list = emu.user_info("vera")["lists"][0]
    assert s.get(emu.api_url + "/users/me/lists/%d/items" % vera_list).status_code == 404


def test_pagination_headers_clamp_and_past_the_end(emu):
    emu.add_user("bob", profile="small", seed=2)
    s = session(emu.grant("bob"))
    r = s.get(emu.api_url + "/sync/history", params={"limit": 1000})
    assert r.status_code == 200
    assert r.headers["X-Pagination-Limit"] == "250" and len(r.json()) == 250
    assert r.headers["X-Pagination-Item-Count"] == "600" and r.headers["X-Pagination-Page-Count"] == "3"
    r = s.get(emu.api_url + "/sync/history")
    assert r.headers["X-Pagination-Limit"] == "100" and r.headers["X-Pagination-Page"] == "1"
    r = s.get(emu.api_url + "/sync/history", params={"page": 99, "limit": 100})
    assert r.status_code == 200 and r.json() == [] and r.headers["X-Pagination-Page"] == "99"
    r = s.get(emu.api_url + "/users/me/comments/all/all", params={"include_replies": "true"})
    assert r.headers["X-Pagination-Limit"] == "10" and len(r.json()) == 10
    r = s.get(emu.api_url + "/sync/watched/shows", params={"extended": "progress", "limit": 250})
    assert r.headers["X-Pagination-Limit"] == "100"
    assert all("seasons" in x for x in r.json())
    r = s.get(emu.api_url + "/sync/watched/shows", params={"limit": 250})
    assert r.headers["X-Pagination-Limit"] == "250" and not any("seasons" in x for x in r.json())
    # walking all pages gives exactly the full value, newest first, unique ids
    items, page = [], 1
    while True:
        r = s.get(emu.api_url + "/sync/history", params={"page": page, "limit": 77})
        items += r.json()
        if page >= int(r.headers["X-Pagination-Page-Count"]):
            break
        page += 1
    assert items == emu.user_data("bob")["/sync/history"]
    assert len({x["id"] for x in items}) == 600
    stamps = [x["watched_at"] for x in items]
    assert stamps == sorted(stamps, reverse=True)
    assert {x["type"] for x in items} == {"movie", "episode"}
    ep = next(x for x in items if x["type"] == "episode")
    assert set(ep) >= {"id", "watched_at", "action", "type", "episode", "show"}
    assert set(ep["episode"]["ids"]) >= {"trakt", "tvdb", "imdb", "tmdb"}
    # start_at / end_at
    mid = stamps[300]
    r = s.get(emu.api_url + "/sync/history", params={"start_at": mid, "limit": 250})
    n = int(r.headers["X-Pagination-Item-Count"])
    assert n == sum(1 for x in stamps if x >= mid)
    assert all(x["watched_at"] >= mid for x in r.json())
    r = s.get(emu.api_url + "/sync/history", params={"end_at": mid, "limit": 250})
    assert int(r.headers["X-Pagination-Item-Count"]) == sum(1 for x in stamps if x <= mid)
    # a list bigger than one clamped page
    big = max(s.get(emu.api_url + "/users/me/lists").json(), key=lambda l: l["item_count"])
    r = s.get(emu.api_url + "/users/me/lists/%d/items" % big["ids"]["trakt"], params={"limit": 500})
    assert r.headers["X-Pagination-Page-Count"] == "2" and len(r.json()) == 250


# --------------------------------------------------------------------------- OAuth: device flow


def test_device_flow_states(emu):
    emu.device_interval = 0.3
    s = session()
    r = s.post(emu.auth_url + "/oauth/device/code", json={"client_id": CID})
    assert r.status_code == 200
    dc = r.json()
    assert re.fullmatch(r"[0-9A-F]{8}", dc["user_code"])
    assert dc["verification_url"] == emu.auth_url + "/activate" and dc["expires_in"] == 600
    poll = client_body(code=dc["device_code"])
    r = s.post(emu.auth_url + "/oauth/device/token", json=poll)
    assert r.status_code == 400 and r.content == b""          # pending
    r = s.post(emu.auth_url + "/oauth/device/token", json=poll)
    assert r.status_code == 429                                 # too fast: slow down
    time.sleep(0.3)
    assert s.post(emu.auth_url + "/oauth/device/token", json=poll).status_code == 400
    emu.approve_device(dc["user_code"], "alice")
    time.sleep(0.3)
    r = s.post(emu.auth_url + "/oauth/device/token", json=poll)
    assert r.status_code == 200
    tok = r.json()
    assert set(tok) == {"access_token", "token_type", "expires_in", "refresh_token", "scope", "created_at"}
    assert tok["token_type"] == "bearer" and re.fullmatch(r"[0-9a-f]{64}", tok["access_token"])
    assert session(tok).get(emu.api_url + "/users/settings").json()["user"]["username"] == "alice"
    assert s.post(emu.auth_url + "/oauth/device/token", json=poll).status_code == 409   # already used
    assert s.post(emu.auth_url + "/oauth/device/token",
                  json=client_body(code="0" * 64)).status_code == 404                     # invalid
    # denied
    dc2 = s.post(emu.auth_url + "/oauth/device/code", json={"client_id": CID}).json()
    emu.deny_device(dc2["user_code"])
    assert s.post(emu.auth_url + "/oauth/device/token",
                  json=client_body(code=dc2["device_code"])).status_code == 418
    # expired (configurable lifetime)
    emu.device_expires_in = 0.2
    dc3 = s.post(emu.auth_url + "/oauth/device/code", json={"client_id": CID}).json()
    assert dc3["expires_in"] == 0.2
    time.sleep(0.25)
    assert s.post(emu.auth_url + "/oauth/device/token",
                  json=client_body(code=dc3["device_code"])).status_code == 410
    with pytest.raises(ValueError):
        emu.approve_device(dc3["user_code"], "alice")
    # unknown client
    assert s.post(emu.auth_url + "/oauth/device/code", json={"client_id": "nope"}).status_code == 403


def test_activate_page_approves_a_device_code(emu):
    emu.device_interval = 0
    s = session()
    dc = s.post(emu.auth_url + "/oauth/device/code", json={"client_id": CID}).json()
    page = s.get(dc["verification_url"])
    assert page.status_code == 200 and 'name="user_code"' in page.text and 'name="username"' in page.text
    r = s.post(emu.auth_url + "/activate", data={"user_code": dc["user_code"].lower(), "username": "alice",
                                                 "decision": "approve"})
    assert r.status_code == 200 and "approved" in r.text
    assert s.post(emu.auth_url + "/oauth/device/token", json=client_body(code=dc["device_code"])).status_code == 200
    r = s.post(emu.auth_url + "/activate", data={"user_code": "NOPE0000", "username": "alice"})
    assert r.status_code == 404


# --------------------------------------------------------------------------- OAuth: authorization code


def _authorize(emu, s, redirect_uri, **extra):
    q = dict(response_type="code", client_id=CID, redirect_uri=redirect_uri, state="st4te", **extra)
    page = s.get(emu.auth_url + "/oauth/authorize", params=q)
    assert page.status_code == 200 and "Authorize" in page.text and 'name="username"' in page.text
    return s.post(emu.auth_url + "/oauth/authorize", data=dict(q, username="alice", decision="approve"),
                  allow_redirects=False)


def test_authorization_code_with_pkce_and_redirect(emu):
    s = session()
    verifier = "v" * 20 + "-._~" + "x" * 30
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    r = _authorize(emu, s, CALLBACK, code_challenge=challenge, code_challenge_method="S256")
    assert r.status_code == 302
    loc = urlsplit(r.headers["Location"])
    assert loc.scheme + "://" + loc.netloc + loc.path == CALLBACK
    q = parse_qs(loc.query)
    assert q["state"] == ["st4te"]
    code = q["code"][0]
    body = client_body(grant_type="authorization_code", code=code, redirect_uri=CALLBACK)
    r = s.post(emu.auth_url + "/oauth/token", json=dict(body, code_verifier="wrong"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = s.post(emu.auth_url + "/oauth/token", json=body)                          # verifier missing
    assert r.status_code == 400
    r = s.post(emu.auth_url + "/oauth/token", json=dict(body, redirect_uri=OOB, code_verifier=verifier))
    assert r.status_code == 400                                                    # redirect_uri mismatch
    r = s.post(emu.auth_url + "/oauth/token", json=dict(body, client_secret="bad", code_verifier=verifier))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = s.post(emu.auth_url + "/oauth/token", json=dict(body, code_verifier=verifier))
    assert r.status_code == 200 and r.json()["expires_in"] == 86400
    r2 = s.post(emu.auth_url + "/oauth/token", json=dict(body, code_verifier=verifier))
    assert r2.status_code == 400 and r2.json()["error"] == "invalid_grant"        # single use
    assert session(r.json()).get(emu.api_url + "/sync/history").status_code == 200


def test_authorization_code_oob_page_and_errors(emu):
    s = session()
    r = _authorize(emu, s, OOB)
    assert r.status_code == 200
    code = re.search(r'id="code">([^<]+)<', r.text).group(1)
    r = s.post(emu.auth_url + "/oauth/token", data=client_body(grant_type="authorization_code", code=code,
                                                               redirect_uri=OOB),
               headers={"Content-Type": "application/x-www-form-urlencoded"})      # form-encoded works too
    assert r.status_code == 200
    q = dict(response_type="code", client_id=CID, state="x")
    assert s.get(emu.auth_url + "/oauth/authorize", params=dict(q, redirect_uri="http://evil/cb")).status_code == 400
    assert s.get(emu.auth_url + "/oauth/authorize",
                 params=dict(q, redirect_uri=OOB, client_id="nope")).status_code == 400
    # codes expire after 600 s
    code = emu.issue_code("alice", redirect_uri=OOB)
    emu.advance_clock(601)
    r = s.post(emu.auth_url + "/oauth/token", json=client_body(grant_type="authorization_code", code=code,
                                                               redirect_uri=OOB))
    assert r.status_code == 400
    # deny redirects with an error
    qq = dict(q, redirect_uri=CALLBACK, username="alice", decision="deny")
    r = s.post(emu.auth_url + "/oauth/authorize", data=qq, allow_redirects=False)
    assert r.status_code == 302 and "error=access_denied" in r.headers["Location"]


# --------------------------------------------------------------------------- tokens


def _refresh(emu, s, rt):
    return s.post(emu.auth_url + "/oauth/token",
                  json=client_body(grant_type="refresh_token", refresh_token=rt, redirect_uri=OOB))


def test_refresh_rotation_and_reuse_kills_the_family(emu):
    s = session()
    t1 = emu.grant("alice")
    r = _refresh(emu, s, t1["refresh_token"])
    assert r.status_code == 200
    t2 = r.json()
    assert t2["refresh_token"] != t1["refresh_token"] and t2["access_token"] != t1["access_token"]
    t3 = _refresh(emu, s, t2["refresh_token"]).json()
    assert session(t3).get(emu.api_url + "/sync/history").status_code == 200
    r = _refresh(emu, s, t1["refresh_token"])                   # reuse of an old refresh token
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert session(t3).get(emu.api_url + "/sync/history").status_code == 401
    assert _refresh(emu, s, t3["refresh_token"]).status_code == 400
    assert emu.stats()["refreshes"] == 2
    # another grant of the same user is unaffected
    other = emu.grant("alice")
    assert session(other).get(emu.api_url + "/sync/history").status_code == 200


def test_concurrent_refreshes_lose_the_grant(emu):
    for _ in range(3):
        tok = emu.grant("alice")
        barrier = threading.Barrier(2)
        results = []

        def worker():
            s = session()
            barrier.wait()
            r = _refresh(emu, s, tok["refresh_token"])
            results.append((r.status_code, r.json()))

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(c for c, _ in results)
        assert codes == [200, 400]
        winner = next(b for c, b in results if c == 200)
        assert session(winner).get(emu.api_url + "/sync/history").status_code == 401
        assert _refresh(emu, session(), winner["refresh_token"]).status_code == 400


def test_expire_revoke_and_token_lifetime(emu):
    s = session()
    tok = emu.grant("alice")
    emu.expire_access_tokens("alice")
    assert session(tok).get(emu.api_url + "/sync/history").status_code == 401
    new = _refresh(emu, s, tok["refresh_token"]).json()               # refresh still works
    assert session(new).get(emu.api_url + "/sync/history").status_code == 200
    emu.revoke_grants("alice")
    assert session(new).get(emu.api_url + "/sync/history").status_code == 401
    assert _refresh(emu, s, new["refresh_token"]).json()["error"] == "invalid_grant"
    emu.set_token_lifetime(5)
    tok = emu.grant("alice")
    assert tok["expires_in"] == 5
    emu.advance_clock(6)
    assert session(tok).get(emu.api_url + "/sync/history").status_code == 401
    tok = emu.grant("alice")
    r = s.post(emu.auth_url + "/oauth/revoke", json=client_body(token=tok["access_token"]))
    assert r.status_code == 200
    assert session(tok).get(emu.api_url + "/sync/history").status_code == 401
    assert _refresh(emu, s, tok["refresh_token"]).status_code == 400


# --------------------------------------------------------------------------- rate limits & latency


def test_rate_limits(emu):
    emu.set_rate_limit(3, 60)
    s = session(emu.grant("alice"))
    seen = [s.get(emu.api_url + "/sync/history") for _ in range(3)]
    assert [r.status_code for r in seen] == [200, 200, 200]
    assert json.loads(seen[0].headers["X-Ratelimit"])["remaining"] == 2
    r = s.get(emu.api_url + "/sync/history")
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    rl = json.loads(r.headers["X-Ratelimit"])
    assert rl["name"] == "AUTHED_API_GET_LIMIT" and rl["remaining"] == 0 and rl["limit"] == 3
    assert emu.stats()["rate_limited"] == 1
    # another user has its own window
    emu.add_user("carol", profile="tiny")
    assert session(emu.grant("carol")).get(emu.api_url + "/sync/history").status_code == 200
    # writes: one per second
    body = {"movies": [emu.user_data("carol")["/sync/history"][0].get("movie") or {"ids": {"trakt": 1}}]}
    w = session(emu.grant("carol"))
    assert w.post(emu.api_url + "/sync/watchlist", json=body).status_code == 201
    r = w.post(emu.api_url + "/sync/watchlist/remove", json=body)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"


def test_latency(emu):
    s = session(emu.grant("alice"))
    emu.set_latency(0.25)
    t0 = time.monotonic()
    assert s.get(emu.api_url + "/users/settings").status_code == 200
    assert time.monotonic() - t0 >= 0.25
    emu.set_latency(0)


# --------------------------------------------------------------------------- faults


def test_fault_status_429_and_html(emu):
    s = session(emu.grant("alice"))
    url = emu.api_url + "/sync/history"
    h = emu.inject("status", path=r"^/sync/history$", status=503, retry_after=7, body={"error": "overloaded"})
    r = s.get(url)
    assert r.status_code == 503 and r.headers["Retry-After"] == "7" and r.json() == {"error": "overloaded"}
    assert s.get(url).status_code == 200 and h.fired == 1
    emu.inject("429", path="history")
    r = s.get(url)
    assert r.status_code == 429 and "Retry-After" in r.headers
    emu.inject("429", path="history", retry_after=None)
    r = s.get(url)
    assert r.status_code == 429 and "Retry-After" not in r.headers
    emu.inject("html", path="history", status=522)
    r = s.get(url)
    assert r.status_code == 522 and r.headers["Content-Type"].startswith("text/html")
    # after / times / method
    emu.inject("status", path="history", method="GET", after=2, times=2, status=500)
    assert [s.get(url).status_code for _ in range(5)] == [200, 200, 500, 500, 200]
    emu.inject("status", path="history", method="POST", status=502)
    assert s.get(url).status_code == 200
    emu.clear_faults()
    assert emu.count(r"^/sync/history$", status=500) == 2


def test_fault_reset_timeout_truncated(emu):
    s = session(emu.grant("alice"))
    url = emu.api_url + "/sync/history"
    emu.inject("reset", path="history")
    with pytest.raises(requests.exceptions.ConnectionError):
        s.get(url)
    assert s.get(url).status_code == 200
    emu.inject("timeout", path="history", seconds=1.0)
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        s.get(url, timeout=0.2)
    assert time.monotonic() - t0 < 1.0
    assert session(emu.grant("alice")).get(url, timeout=5).status_code == 200
    emu.inject("truncated", path="history")
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        session(emu.grant("alice")).get(url).json()
    assert session(emu.grant("alice")).get(url).status_code == 200


def test_fault_wrong_shape_and_invalid_grant(emu):
    s = session(emu.grant("alice"))
    emu.inject("wrong_shape", path="history")
    r = s.get(emu.api_url + "/sync/history")
    assert r.status_code == 200 and isinstance(r.json(), dict)
    emu.inject("wrong_shape", path="settings")
    assert isinstance(s.get(emu.api_url + "/users/settings").json(), list)
    tok = emu.grant("alice")
    emu.inject("invalid_grant", path="^/oauth/token$")
    r = _refresh(emu, session(), tok["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    emu.inject("invalid_grant", path="^/oauth/token$", status=401)
    assert _refresh(emu, session(), tok["refresh_token"]).status_code == 401
    assert _refresh(emu, session(), tok["refresh_token"]).status_code == 200   # the fault did not consume it
    # a refresh whose answer is lost still rotated the token: using it again kills the family
    tok = emu.grant("alice")
    emu.inject("reset", path="^/oauth/token$", when="after")
    with pytest.raises(requests.exceptions.ConnectionError):
        _refresh(emu, session(), tok["refresh_token"])
    assert _refresh(emu, session(), tok["refresh_token"]).status_code == 400


# --------------------------------------------------------------------------- data changes


def test_last_activities_move_after_add_plays_and_remove(emu):
    s = session(emu.grant("alice"))
    before = s.get(emu.api_url + "/sync/last_activities").json()
    hist_before = s.get(emu.api_url + "/sync/history").json()
    new = emu.add_plays("alice", 3)
    assert len(new) == 3
    after = s.get(emu.api_url + "/sync/last_activities").json()
    assert after["all"] > before["all"]
    moved = [k for k in ("movies", "episodes") if after[k]["watched_at"] > before[k]["watched_at"]]
    assert moved
    hist = s.get(emu.api_url + "/sync/history").json()
    assert hist[:3] == new and hist[3:] == hist_before
    assert new[0]["id"] > max(x["id"] for x in hist_before)
    emu.remove_history_item("alice", new[0]["id"])
    again = s.get(emu.api_url + "/sync/last_activities").json()
    assert again["all"] > after["all"]
    assert new[0]["id"] not in {x["id"] for x in s.get(emu.api_url + "/sync/history").json()}
    with pytest.raises(KeyError):
        emu.remove_history_item("alice", 1)
    plays = sum(x["plays"] for x in s.get(emu.api_url + "/sync/watched/movies").json()) + \
        sum(x["plays"] for x in s.get(emu.api_url + "/sync/watched/shows").json())
    assert plays == len(hist_before) + 2


def test_write_endpoints(emu):
    emu.set_write_rate_limit(100, 1)
    s = session(emu.grant("alice"))
    data = emu.user_data("alice")
    movie = data["/sync/watchlist"][0].get("movie") or data["/sync/history"][-1].get("movie")
    movie = movie or next(x["movie"] for x in data["/sync/history"] if x["type"] == "movie")
    r = s.post(emu.api_url + "/sync/history", json={"movies": [{"ids": movie["ids"],
                                                                "watched_at": "2026-07-02T10:00:00.000Z"}],
                                                    "episodes": [{"ids": {"trakt": 1}}]})
    assert r.status_code == 201 and r.json()["added"]["movies"] == 1
    assert r.json()["not_found"]["episodes"] == [{"ids": {"trakt": 1}}]
    top = s.get(emu.api_url + "/sync/history").json()[0]
    assert top["movie"]["ids"]["trakt"] == movie["ids"]["trakt"] and top["watched_at"] == "2026-07-02T10:00:00.000Z"
    r = s.post(emu.api_url + "/sync/history/remove", json={"ids": [top["id"]]})
    assert r.status_code == 200 and r.json()["deleted"]["movies"] == 1
    r = s.post(emu.api_url + "/sync/ratings", json={"movies": [{"ids": movie["ids"], "rating": 9}]})
    assert r.status_code == 201 and r.json()["added"]["movies"] == 1
    assert any(x["movie"]["ids"]["trakt"] == movie["ids"]["trakt"] and x["rating"] == 9
               for x in s.get(emu.api_url + "/sync/ratings/movies").json())
    lst = data["/users/me/lists"][0]
    r = s.post(emu.api_url + "/users/me/lists/%d/items" % lst["ids"]["trakt"], json={"movies": [{"ids": movie["ids"]}]})
    assert r.status_code == 201
    items = s.get(emu.api_url + "/users/me/lists/%d/items" % lst["ids"]["trakt"]).json()
    assert len(items) == lst["item_count"] + (1 if r.json()["added"]["movies"] else 0)


# --------------------------------------------------------------------------- logging, control API, CLI


def test_request_log(emu):
    s = session(emu.grant("alice"))
    emu.reset_log()
    s.get(emu.api_url + "/sync/history", params={"page": 2, "limit": 5})
    s.post(emu.auth_url + "/oauth/device/code", json={"client_id": CID})
    log = emu.requests
    assert [(e["host"], e["method"], e["path"]) for e in log] == [("api", "GET", "/sync/history"),
                                                                   ("auth", "POST", "/oauth/device/code")]
    assert log[0]["query"] == {"page": "2", "limit": "5"} and log[0]["user"] == "alice" and log[0]["status"] == 200
    assert emu.count(host="auth") == 1 and emu.count("history", method="GET", status=200) == 1
    assert emu.stats()["total"] == 2


def test_unicode_usernames(emu):
    info = emu.add_user("Zoë Ünïcode/../x", profile="tiny")
    assert re.fullmatch(r"[a-z0-9-]+", info["slug"])
    s = session(emu.grant("Zoë Ünïcode/../x"))
    r = s.get(emu.api_url + "/users/%s/history" % info["slug"])
    assert r.status_code == 200 and r.json()
    assert s.get(emu.api_url + "/users/settings").json()["user"]["username"] == "Zoë Ünïcode/../x"


def test_control_api(emu):
    c = requests.Session()
    base = emu.api_url + "/_emulator"
    r = c.post(base + "/users", json={"username": "dave", "profile": "tiny", "seed": 3, "vip": True})
    assert r.status_code == 201 and r.json()["slug"] == "dave"
    tok = c.post(base + "/grant", json={"username": "dave"}).json()
    s = session(tok)
    assert s.get(emu.api_url + "/users/saved_filters/shows").status_code == 200
    data = c.get(base + "/users/dave/data").json()
    assert data["/sync/history"] == s.get(emu.api_url + "/sync/history").json()
    assert c.post(base + "/plays", json={"username": "dave", "n": 2}).status_code == 200
    assert len(s.get(emu.api_url + "/sync/history").json()) == len(data["/sync/history"]) + 2
    assert c.post(base + "/faults", json={"kind": "status", "path": "history", "status": 502}).status_code == 201
    assert s.get(emu.api_url + "/sync/history").status_code == 502
    assert c.post(base + "/faults", json={"kind": "status", "path": "history", "status": 502}).status_code == 201
    assert c.delete(base + "/faults").status_code == 200
    assert s.get(emu.api_url + "/sync/history").status_code == 200
    code = c.post(base + "/code", json={"username": "dave", "redirect_uri": OOB}).json()["code"]
    r = session().post(emu.auth_url + "/oauth/token", json=client_body(grant_type="authorization_code", code=code,
                                                                      redirect_uri=OOB))
    assert r.status_code == 200
    dc = session().post(emu.auth_url + "/oauth/device/code", json={"client_id": CID}).json()
    assert c.post(base + "/device/approve", json={"user_code": dc["user_code"], "username": "dave"}).ok
    assert c.post(base + "/expire", json={"username": "dave"}).json()["expired"] >= 1
    assert s.get(emu.api_url + "/sync/history").status_code == 401
    assert c.post(base + "/revoke", json={"username": "dave"}).ok
    assert c.post(base + "/config", json={"latency": 0, "rate_limit": [500, 300]}).json()["rate_limit"] == [500, 300]
    stats = c.get(base + "/stats").json()
    assert {"total", "by_status", "by_path", "refreshes", "rate_limited"} <= set(stats)
    assert stats["by_status"]["502"] == 1
    assert c.post(base + "/reset_log").ok and c.get(base + "/stats").json()["total"] == 0
    assert c.post(base + "/remove", json={"username": "dave", "id": 1}).status_code == 404
    assert c.get(base + "/nope").status_code == 404


def test_cli_process():
    proc = subprocess.Popen([sys.executable, "-m", "trakt_emulator", "--port", "0", "--user", "eve:tiny:vip",
                             "--client-id", "cli-id", "--client-secret", "cli-secret"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        assert lines[2].startswith("READY api=")
        api, auth = lines[0], lines[1]
        assert lines[2] == "READY api=%s auth=%s" % (api, auth)
        tok = requests.post(api + "/_emulator/grant", json={"username": "eve"}).json()
        r = requests.get(api + "/users/settings", headers={"trakt-api-key": "cli-id", "trakt-api-version": "2",
                                                           "Authorization": "Bearer " + tok["access_token"]})
        assert r.status_code == 200 and r.json()["user"]["vip"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.stderr.close()


def test_heavy_profile(emu):
    t0 = time.perf_counter()
    emu.add_user("hank", profile="heavy", seed=5)
    took = time.perf_counter() - t0
    print("\nheavy profile generated in %.2f s" % took)
    s = session(emu.grant("hank"))
    t0 = time.perf_counter()
    r = s.get(emu.api_url + "/sync/history", params={"page": 300, "limit": 250})
    print("one page of heavy history served in %.3f s" % (time.perf_counter() - t0))
    assert r.headers["X-Pagination-Item-Count"] == "100000" and len(r.json()) == 250
    assert s.get(emu.api_url + "/sync/history", params={"page": 401, "limit": 250}).json() == []
    r = s.get(emu.api_url + "/sync/watched/shows", params={"extended": "progress", "limit": 100})
    assert r.headers["X-Pagination-Item-Count"] == "3000"
    assert len(s.get(emu.api_url + "/users/me/lists").json()) == 100
    r = s.get(emu.api_url + "/sync/ratings")
    assert r.headers["X-Pagination-Item-Count"] == "10000"


def test_sizes_override_and_determinism(emu):
    emu.add_user("x1", profile="tiny", seed=9, sizes={"history": 40, "lists": 4, "list_items": 2})
    emu.add_user("x2", profile="tiny", seed=9, sizes={"history": 40, "lists": 4, "list_items": 2})
    d1, d2 = emu.user_data("x1"), emu.user_data("x2")
    assert len(d1["/sync/history"]) == 40 and len(d1["/users/me/lists"]) == 4
    assert d1["/sync/history"] == d2["/sync/history"] and d1["/sync/ratings/movies"] == d2["/sync/ratings/movies"]
    with pytest.raises(ValueError):
        emu.add_user("x3", sizes={"bogus": 1})
    with pytest.raises(ValueError):
        emu.add_user("x1")


def test_cli_help_names_the_demo_credentials_user_and_pages():
    out = subprocess.run([sys.executable, "-m", "trakt_emulator", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60).stdout
    assert [line.split()[0] for line in out.splitlines() if "emulator-client-id" in line or "/activate" in line
            or "demo (profile" in line] == ["App", "trakt", "device"]


def test_cli_registers_the_callback_of_the_app_it_stands_beside():
    from django.urls import reverse

    from trakt_emulator.__main__ import DEFAULT_REDIRECT_URIS

    assert {f"http://{host}:8000{reverse('oauth_callback')}" for host in ("localhost", "127.0.0.1")} <= set(
        DEFAULT_REDIRECT_URIS)
