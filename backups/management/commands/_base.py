"""What the management commands share: turning service errors into one clear line, finding an account."""

from __future__ import annotations

import errno
import functools
import logging

from django.core.management.base import CommandError
from django.db import DatabaseError

from backups.crypto import DecryptionError
from backups.models import Account
from backups.services.grants import ServiceError
from backups.trakt_client import TraktError


def user_errors(handle):
    """Exit non-zero with the error's sentence, never a traceback, for errors a user can meet."""

    @functools.wraps(handle)
    def wrapper(self, *args, **options):
        if options.get("verbosity", 1) < 2:
            _quiet_console()
        try:
            return handle(self, *args, **options)
        except (ServiceError, TraktError, DecryptionError) as exc:
            raise CommandError(str(exc)) from exc
        except (DatabaseError, OSError) as exc:
            disk = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
            if not disk and not any(s in str(exc).lower() for s in ("disk is full", "disk i/o error")):
                raise
            raise CommandError(f"The data folder's disk is full or cannot be written ({exc}): free some space, "
                               "then run the command again.") from exc

    return wrapper


def _quiet_console() -> None:
    """On the command line, details go to the log file; the terminal shows only the outcome (and errors)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.ERROR)


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
