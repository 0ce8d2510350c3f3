"""Prometheus metrics at ``/metrics``: off unless ``METRICS_TOKEN`` (a bearer token) or ``METRICS_ALLOW``
(addresses or networks) is set.

Every figure is read from the database when Prometheus scrapes (a fixed number of queries, whatever the number
of accounts and backups), through ``prometheus_client``'s collector interface and its text format. Account
labels are trakt usernames: untrusted text, escaped by ``prometheus_client`` as its format requires.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.db.models import OuterRef, Subquery, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from django_q.brokers import get_broker
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from backups.login_throttle import client_address
from backups.models import Account, Backup, Restore, RunTally

PREFIX = "trakt_backup"


def _last_successes() -> dict[int, Backup]:
    latest = Backup.objects.successful().filter(account=OuterRef("pk")).order_by("-finished", "-pk").values("pk")[:1]
    pks = Account.objects.annotate(last=Subquery(latest)).values_list("last", flat=True)
    backups = Backup.objects.filter(pk__in=[pk for pk in pks if pk is not None]).only(
        "account_id", "started", "finished", "item_counts")
    return {backup.account_id: backup for backup in backups}


def _account_families(accounts: list[Account]) -> list:
    last = GaugeMetricFamily(f"{PREFIX}_last_success_timestamp_seconds",
                             "Unix time the account's newest successful backup finished", labels=["account"])
    duration = GaugeMetricFamily(f"{PREFIX}_last_success_duration_seconds",
                                 "How long the account's newest successful backup took", labels=["account"])
    items = GaugeMetricFamily(f"{PREFIX}_items", "Items per category in the account's newest successful backup",
                              labels=["account", "category"])
    expiry = GaugeMetricFamily(f"{PREFIX}_token_expiry_timestamp_seconds",
                               "Unix time the account's access token expires (it is refreshed before)",
                               labels=["account"])
    reconnect = GaugeMetricFamily(f"{PREFIX}_reconnect_needed",
                                  "1 when the account must be connected again at trakt", labels=["account"])
    successes = _last_successes()
    for account in accounts:
        name = [account.username]
        reconnect.add_metric(name, 1 if account.status == Account.Status.NEEDS_RECONNECT else 0)
        if account.token_expires_at:
            expiry.add_metric(name, account.token_expires_at.timestamp())
        backup = successes.get(account.pk)
        if backup is None or backup.finished is None:
            continue
        last.add_metric(name, backup.finished.timestamp())
        if backup.started:
            duration.add_metric(name, (backup.finished - backup.started).total_seconds())
        for category, count in sorted((backup.item_counts or {}).items()):
            if isinstance(count, int):
                items.add_metric([account.username, category], count)
    return [last, duration, items, expiry, reconnect]


def _run_families() -> list:
    runs = CounterMetricFamily(f"{PREFIX}_runs", "Backups and restores that ended, by status, since installation",
                               labels=["kind", "status"])
    for tally in RunTally.objects.order_by("kind", "status"):
        runs.add_metric([tally.kind, tally.status], tally.total)
    tasks = GaugeMetricFamily(f"{PREFIX}_tasks", "Tasks waiting in the queue, and backups and restores running",
                              labels=["state"])
    tasks.add_metric(["queued"], get_broker().queue_size())
    running = (Backup.objects.filter(status=Backup.Status.RUNNING).count()
               + Restore.objects.filter(status=Restore.Status.RUNNING).count())
    tasks.add_metric(["running"], running)
    stored = Backup.objects.filter(same_as__isnull=True).exclude(archive_name="").aggregate(size=Sum("size"))["size"]
    storage = GaugeMetricFamily(f"{PREFIX}_archive_storage_bytes", "Bytes of archives stored (shared files once)",
                                value=stored or 0)
    return [runs, tasks, storage]


class AppCollector:
    """The app's figures, read afresh at each scrape."""

    def collect(self):
        yield from _account_families(list(Account.objects.order_by("username", "pk")))
        yield from _run_families()


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    sent = request.META.get("HTTP_AUTHORIZATION", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    address = client_address(request)
    return bool(address) and any(_in(address, network) for network in settings.METRICS_ALLOW)


def _in(address: str, network) -> bool:
    try:
        return ipaddress.ip_address(address) in network
    except ValueError:
        return False


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOW:
        raise Http404("Metrics are off: set METRICS_TOKEN or METRICS_ALLOW.")
    if not _allowed(request):
        response = HttpResponse("A bearer token (METRICS_TOKEN) or an allowed address (METRICS_ALLOW) is needed.\n",
                                status=401, content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AppCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
