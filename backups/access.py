"""Every object a view names is looked up here, scoped to the requesting user.

Anyone else's account or backup is a 404, never a 403: a stranger cannot even
learn that it exists. Staff may *read* any account's backups and event log
(``read=True``); changing an account (back up, schedule, disconnect) is for its
owner only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from backups.models import Account, Backup


def accounts_for_user(request: HttpRequest) -> QuerySet[Account]:
    """The accounts the dashboard lists: the user's own, staff included (the admin shows all)."""
    return Account.objects.filter(owner=request.user)


def _may_read_any(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.is_staff


def get_account_for_user(request: HttpRequest, pk: int, *, read: bool = False) -> Account:
    accounts = Account.objects.all() if read and _may_read_any(request) else accounts_for_user(request)
    try:
        return accounts.get(pk=pk)
    except Account.DoesNotExist:
        raise Http404("No such account.") from None


def get_backup_for_user(request: HttpRequest, pk: int, *, read: bool = True) -> Backup:
    backups = Backup.objects.select_related("account", "same_as")
    if not (read and _may_read_any(request)):
        backups = backups.filter(account__owner=request.user)
    try:
        return backups.get(pk=pk)
    except Backup.DoesNotExist:
        raise Http404("No such backup.") from None


def staff_required(view: Callable) -> Callable:
    """For pages that change the whole installation (the trakt app). Expects a logged-in user."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied("Only an admin of this installation can open this page.")
        return view(request, *args, **kwargs)

    return wrapper
