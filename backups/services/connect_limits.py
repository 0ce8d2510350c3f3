"""How often connects may be started: a limit per user and one for the whole installation, per minute.

Each PIN exchange, device-code start and redirect start asks trakt with the installation's app, so an unbounded
number of them (a script, a stuck key) would get that app rate-limited or flagged by trakt for everyone. The
web doors call ``take`` before anything reaches trakt; the command line (an admin at the server's console) does
not. Attempts are rows (``ConnectAttempt``), counted and written in one transaction that holds the database's
write lock (SQLite's immediate transactions; an advisory lock on PostgreSQL), so parallel requests cannot all
squeeze under the limit.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from backups.models import ConnectAttempt
from backups.services.grants import ServiceError

WINDOW = timedelta(minutes=1)
KEPT = timedelta(hours=1)  # older rows are deleted as new ones come
LOCK_KEY = (0x7A5E, 1_000)  # PostgreSQL advisory lock: this app's, connect attempts


class TooManyConnects(ServiceError):
    pass


def take(user, kind: str) -> None:
    """Count one connect attempt of ``user``, or raise TooManyConnects with a sentence (nothing is counted)."""
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", list(LOCK_KEY))
        recent = ConnectAttempt.objects.filter(at__gte=now - WINDOW)
        if recent.filter(user=user).count() >= settings.CONNECT_LIMIT_PER_USER:
            raise TooManyConnects(f"You started {settings.CONNECT_LIMIT_PER_USER} connects in the last minute: "
                                  "wait a minute, then try again.")
        if recent.count() >= settings.CONNECT_LIMIT_PER_INSTALLATION:
            raise TooManyConnects("This installation started as many connects with trakt in the last minute as it "
                                  "may: wait a minute, then try again.")
        ConnectAttempt.objects.filter(at__lt=now - KEPT).delete()
        ConnectAttempt.objects.create(user=user, kind=kind, at=now)
