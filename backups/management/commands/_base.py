"""What the three commands share: turning service errors into one clear line."""

from __future__ import annotations

import functools

from django.core.management.base import CommandError

from backups.crypto import DecryptionError
from backups.models import Account
from backups.services.grants import ServiceError
from backups.trakt_client import TraktError


def user_errors(handle):
    """Exit non-zero with the error's sentence, never a traceback, for errors a user can meet."""

    @functools.wraps(handle)
    def wrapper(self, *args, **options):
        try:
            return handle(self, *args, **options)
        except (ServiceError, TraktError, DecryptionError) as exc:
            raise CommandError(str(exc)) from exc

    return wrapper


def find_account(username: str) -> Account:
    account = Account.objects.filter(username__iexact=username).first() or Account.objects.filter(
        slug__iexact=username
    ).first()
    if account is None:
        raise CommandError(
            f"No trakt account called {username!r} is connected: connect it with "
            f"`python manage.py trakt_auth -u {username} --device`."
        )
    return account
