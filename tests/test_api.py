"""The REST API (`/api/v1/`): personal tokens, every object scoped to the token's user, the schema, and
schemathesis against the live server."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import zipfile
from collections import Counter

import pytest
import requests
import schemathesis
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from django_q.conf import Conf
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from backups.api_auth import make_token
from backups.models import ApiToken, Backup, Restore
from backups.services.backup_run import run_backup
from backups.services.run_claims import this_host
from tests.support import connect_account, page_text, signed_in

pytestmark = pytest.mark.django_db(transaction=True)
# schemathesis' examples per operation: 30 on the first pass; the services pass (DATABASE_URL) runs 10, enough to
# see every operation work on PostgreSQL, Redis and S3 without drawing the same inputs again
EXAMPLES = 10 if os.environ.get("DATABASE_URL") else 30


@pytest.fixture
def world(trakt, alice, bob):
    """alice's connected account with one backup; tokens of alice (full, read-only) and bob."""
    cache.clear()  # wrong-token counts of earlier tests (the cache table is not flushed between tests)
    account = connect_account(trakt, "alice-trakt", alice)
    backup = run_backup(account)
    assert backup.status == Backup.Status.SUCCESS, backup.error
    restore = Restore.objects.create(account=account, archive_backup=backup, status=Restore.Status.PLANNED,
                                     dry_run=True)
    tokens = {"alice": make_token(alice, "script")[1], "read-only": make_token(alice, "ro", read_only=True)[1],
              "bob": make_token(bob, "bob's")[1]}
    return {"account": account, "backup": backup, "restore": restore, "tokens": tokens}


def call(method: str, path: str, token: str | None = None, **kwargs):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return getattr(Client(), method)(path, content_type="application/json", **headers, **kwargs)


# (method, path, body): every endpoint of the API, with {account}, {backup}, {restore} filled in per test
ENDPOINTS = [
    ("get", "/api/v1/accounts/{account}", None),
    ("get", "/api/v1/accounts/{account}/backups", None),
    ("post", "/api/v1/accounts/{account}/backups", {}),
    ("get", "/api/v1/backups/{backup}", None),
    ("get", "/api/v1/backups/{backup}/download", None),
    ("get", "/api/v1/backups/{backup}/export/csv", None),
    ("post", "/api/v1/backups/{backup}/restores", {}),
    ("get", "/api/v1/restores/{restore}", None),
]


def fill(path: str, world) -> str:
    return path.format(account=world["account"].pk, backup=world["backup"].pk, restore=world["restore"].pk)


def test_every_endpoint_is_listed_here():
    from backups.api import api

    listed = {path.split("/api/v1")[1].replace("{account}", "{account_id}").replace("{backup}", "{backup_id}")
              .replace("{restore}", "{restore_id}").replace("/csv", "/{format}") for _, path, _ in ENDPOINTS}
    assert set(api.get_openapi_schema()["paths"]) - {"/api/v1/accounts"} == {f"/api/v1{p}" for p in listed}


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
def test_another_users_token_gets_404(world, method, path, body):
    response = call(method, fill(path, world), world["tokens"]["bob"], **({"data": body} if body is not None else {}))
    assert response.status_code == 404, response.content
    assert "alice" not in response.content.decode()
    assert Backup.objects.count() == 1 and Restore.objects.count() == 1  # nothing was started


@pytest.mark.parametrize("method, path, body", ENDPOINTS + [("get", "/api/v1/accounts", None)])
def test_no_token_a_wrong_one_and_a_revoked_one_get_401(world, alice, method, path, body):
    target = fill(path, world)
    data = {"data": body} if body is not None else {}
    assert call(method, target, **data).status_code == 401
    assert call(method, target, "tbk_" + "x" * 43, **data).status_code == 401
    row, token = make_token(alice, "soon revoked")
    signed_in(alice).post("/settings/tokens/revoke", {"token": row.pk})
    assert not ApiToken.objects.filter(pk=row.pk).exists()
    response = call(method, target, token, **data)
    assert response.status_code == 401 and response.json() == {"detail": "Unauthorized"}
    assert Backup.objects.count() == 1 and Restore.objects.count() == 1


def test_a_signed_in_browser_without_a_token_gets_401(world, alice):
    """The API never reads the session cookie: a page elsewhere cannot make a signed-in browser call it."""
    assert signed_in(alice).get("/api/v1/accounts").status_code == 401
    assert signed_in(alice).post(f"/api/v1/accounts/{world['account'].pk}/backups").status_code == 401


def test_accounts_backups_and_progress(world):
    token, account, backup = world["tokens"]["alice"], world["account"], world["backup"]
    accounts = call("get", "/api/v1/accounts", token).json()
    assert [(a["id"], a["username"], a["status"]) for a in accounts] == [(account.pk, "alice-trakt", "connected")]
    assert accounts[0]["last_backup"]["id"] == backup.pk
    assert call("get", "/api/v1/accounts", world["tokens"]["bob"]).json() == []
    listed = call("get", f"/api/v1/accounts/{account.pk}/backups", token).json()
    assert [b["id"] for b in listed] == [backup.pk]
    assert listed[0]["item_counts"]["sync/history"] == backup.item_counts["sync/history"] > 0
    assert listed[0]["total_items"] == backup.total_items and listed[0]["status"] == "success"
    one = call("get", f"/api/v1/backups/{backup.pk}", token).json()
    assert one["progress"]["categories_done"] == one["progress"]["categories_total"] > 0 and not one["active"]


def test_start_a_backup_then_409_while_one_runs(world):
    token, account = world["tokens"]["alice"], world["account"]
    response = call("post", f"/api/v1/accounts/{account.pk}/backups", token, data={"full": True})
    assert response.status_code == 202, response.content
    started = Backup.objects.get(pk=response.json()["id"])
    assert started.account == account and started.full  # the tests' queue runs it at once
    Backup.objects.create(account=account, status=Backup.Status.RUNNING, started=timezone.now(),
                          heartbeat=timezone.now(), claim_host=this_host(), claim_pid=os.getpid())
    response = call("post", f"/api/v1/accounts/{account.pk}/backups", token)
    assert response.status_code == 409 and "already under way" in response.json()["detail"]


def test_a_read_only_token_reads_and_starts_nothing(world):
    token = world["tokens"]["read-only"]
    assert call("get", f"/api/v1/backups/{world['backup'].pk}", token).status_code == 200
    for path in (f"/api/v1/accounts/{world['account'].pk}/backups", f"/api/v1/backups/{world['backup'].pk}/restores"):
        response = call("post", path, token, data={})
        assert response.status_code == 403 and "read-only" in response.json()["detail"]
    assert Backup.objects.count() == 1 and Restore.objects.count() == 1


def test_download_export_and_restore(world):
    token, backup = world["tokens"]["alice"], world["backup"]
    response = call("get", f"/api/v1/backups/{backup.pk}/download", token)
    if response.status_code == 302:  # archives in a bucket (the services pass): a link that expires in minutes
        data = requests.get(response["Location"], timeout=30).content
    else:
        assert response.status_code == 200
        data = b"".join(response.streaming_content)
    assert hashlib.sha256(data).hexdigest() == backup.sha256
    assert tarfile.open(fileobj=io.BytesIO(data)).getnames()
    response = call("get", f"/api/v1/backups/{backup.pk}/export/letterboxd", token)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "letterboxd-diary.csv" in zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert call("get", f"/api/v1/backups/{backup.pk}/export/pdf", token).status_code == 422
    response = call("post", f"/api/v1/backups/{backup.pk}/restores", token, data={"only": ["sync/history"]})
    assert response.status_code == 202, response.content
    restore = call("get", f"/api/v1/restores/{response.json()['id']}", token).json()
    assert restore["dry_run"] and restore["backup_id"] == backup.pk
    assert restore["status"] == "planned" and "sync/history" in restore["categories"]  # planned by the queue


def test_wrong_tokens_from_one_address_are_limited(world, settings):
    settings.API_FAILED_TOKEN_LIMIT = 3
    for _ in range(3):
        assert call("get", "/api/v1/accounts", "tbk_wrong").status_code == 401
    response = call("get", "/api/v1/accounts", "tbk_wrong")
    assert response.status_code == 429 and response["Retry-After"] == "600"
    assert call("get", "/api/v1/accounts", world["tokens"]["alice"]).status_code == 429  # the address, any token
    other = Client(REMOTE_ADDR="127.0.0.9").get("/api/v1/accounts",
                                                HTTP_AUTHORIZATION=f"Bearer {world['tokens']['alice']}")
    assert other.status_code == 200


def test_tokens_are_shown_once_and_stored_hashed(world, alice):
    client = signed_in(alice)
    page = client.post("/settings/tokens/", {"name": "<b>nightly</b>", "read_only": "on"})
    text = page_text(page)
    token = re.search(r"tbk_[A-Za-z0-9_-]{43}", text).group()
    row = ApiToken.objects.get(name="<b>nightly</b>")
    assert row.read_only and row.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(list(ApiToken.objects.values()))
    assert "<b>nightly</b>" not in page.content.decode()  # escaped
    assert call("get", "/api/v1/accounts", token).status_code == 200
    listing = page_text(client.get("/settings/tokens/"))
    assert token not in listing and row.hint in listing and "read only" in listing
    assert ApiToken.objects.get(pk=row.pk).last_used is not None


def test_the_schema_is_served_and_generated(world):
    schema = Client().get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.") and "/api/v1/backups/{backup_id}/export/{format}" in schema["paths"]
    assert schema["components"]["securitySchemes"]["Bearer"]["scheme"] == "bearer"


def test_schemathesis_finds_no_failure(world, live_server, settings, monkeypatch):
    """Every operation of the generated schema, with schemathesis' examples and all its checks, over real HTTP:
    each example as drawn (mostly ids of nothing), then on alice's real objects."""
    settings.API_FAILED_TOKEN_LIMIT = 10**6  # schemathesis checks that wrong tokens are refused: many of them
    # Started backups and restores wait in the queue, as with a busy worker (the first; the others get 409),
    # rather than each running in the request.
    monkeypatch.setattr(Conf, "SYNC", False)
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {world['tokens']['alice']}"}
    real = {"account_id": world["account"].pk, "backup_id": world["backup"].pk, "restore_id": world["restore"].pk}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(ENDPOINTS) + 1
    answered: Counter = Counter()

    for operation in operations:
        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                             database=None)
        def check(case):
            answered[operation.label, case.call_and_validate(headers=headers).status_code] += 1
            if set(case.path_parameters or {}) & set(real):
                case.path_parameters = {**case.path_parameters, **{k: v for k, v in real.items()
                                                                   if k in case.path_parameters}}
                answered[operation.label, case.call_and_validate(headers=headers).status_code] += 1

        check()
    assert not [key for key in answered if key[1] == 429], answered
    for operation in operations:  # each did its work on real objects (200, 202, or S3's 302), not only refused
        assert operation.label == "GET /api/v1/accounts" or any(
            status < 400 for label, status in answered if label == operation.label), (operation.label, answered)


def test_schemathesis_saw_real_objects(world, live_server):
    """The ids schemathesis draws are random: at least show that the live API answers the real ones."""
    response = requests.get(f"{live_server.url}/api/v1/accounts/{world['account'].pk}/backups",
                            headers={"Authorization": f"Bearer {world['tokens']['alice']}"}, timeout=10)
    assert response.status_code == 200 and response.json()[0]["id"] == world["backup"].pk
