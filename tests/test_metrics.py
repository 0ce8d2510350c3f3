"""Prometheus metrics at /metrics: off by default, behind a bearer token or an address list, parsed with
prometheus_client's own parser after real backups from the emulator."""

from __future__ import annotations

import ipaddress

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from backups.models import Account, Backup
from backups.services.backup_run import run_backup
from tests.support import connect_account

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "metrics-token-0123456789"


def scrape(client: Client | None = None, **headers) -> dict:
    """{(sample name, frozen labels): value} of one scrape."""
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def of(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_metrics_are_off_by_default():
    assert Client().get("/metrics").status_code == 404


def test_the_token_is_needed(settings):
    settings.METRICS_TOKEN = TOKEN
    assert Client().get("/metrics").status_code == 401
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer not-it")
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_an_allowed_address_needs_no_token(settings):
    settings.METRICS_ALLOW = [ipaddress.ip_network("10.1.0.0/16")]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.2.0.1").get("/metrics").status_code == 401


def test_the_figures_of_real_backups(trakt, admin_user, settings):
    settings.METRICS_TOKEN = TOKEN
    account = connect_account(trakt, "alice-trakt", admin_user, profile="tiny")
    first = run_backup(account)
    trakt.inject("status", path=r"^/sync/last_activities$", status=500, times=None)
    failed = run_backup(account)
    trakt.clear_faults()
    samples = scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    user = {"account": "alice-trakt"}
    assert (first.status, failed.status) == (Backup.Status.SUCCESS, Backup.Status.FAILED)
    assert of(samples, "trakt_backup_last_success_timestamp_seconds", **user) == first.finished.timestamp()
    assert of(samples, "trakt_backup_last_success_duration_seconds", **user) == pytest.approx(
        (first.finished - first.started).total_seconds())
    for category, count in first.item_counts.items():
        assert of(samples, "trakt_backup_items", category=category, **user) == count
    account.refresh_from_db()
    assert of(samples, "trakt_backup_token_expiry_timestamp_seconds", **user) == account.token_expires_at.timestamp()
    assert of(samples, "trakt_backup_reconnect_needed", **user) == 0
    assert of(samples, "trakt_backup_runs_total", kind="backup", status="success") == 1
    assert of(samples, "trakt_backup_runs_total", kind="backup", status="failed") == 1
    assert of(samples, "trakt_backup_tasks", state="running") == 0
    assert of(samples, "trakt_backup_archive_storage_bytes") == first.size
    # the counters keep counting when retention deletes the rows
    Backup.objects.filter(pk=failed.pk).delete()
    Account.objects.filter(pk=account.pk).update(status=Account.Status.NEEDS_RECONNECT)
    samples = scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert of(samples, "trakt_backup_runs_total", kind="backup", status="failed") == 1
    assert of(samples, "trakt_backup_reconnect_needed", **user) == 1


def test_a_hostile_username_is_a_label_not_lines(admin_user, settings):
    settings.METRICS_TOKEN = TOKEN
    name = 'evil"} 1\ntrakt_backup_reconnect_needed{account="alice'
    Account.objects.create(owner=admin_user, username=name, status=Account.Status.NEEDS_RECONNECT)
    samples = scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert of(samples, "trakt_backup_reconnect_needed", account=name) == 1
    assert of(samples, "trakt_backup_reconnect_needed", account="alice") is None


def test_queries_do_not_grow_with_accounts(admin_user, settings, django_assert_max_num_queries):
    settings.METRICS_TOKEN = TOKEN
    for number in range(20):
        account = Account.objects.create(owner=admin_user, username=f"user{number}")
        Backup.objects.create(account=account, status=Backup.Status.SUCCESS, item_counts={"sync/history": number})
    with django_assert_max_num_queries(10):
        scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
