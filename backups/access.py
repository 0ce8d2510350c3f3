"""Every object a view names is looked up here, scoped to the requesting user.

Anyone else's account or backup is a 404, never a 403: a stranger cannot even
learn that it exists. A user with the permission ``backups.view_all_archives``
(superusers; staff it is given to in the admin) may *read* any account's backups
and event log (``read=True``); other staff get a 403 there, saying so. Changing an
account (back up, schedule, disconnect) is for its owner only. Pages that change
the installation ask for the model permission the admin asks for
(``permission_required``).
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


READ_ANY = "backups.view_all_archives"


def _may_read_any(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.has_perm(READ_ANY)


def _not_yours(request: HttpRequest, queryset: QuerySet, pk: int, what: str) -> Exception:
    """A 403 for staff without the permission to read others' (they know such objects exist), else a 404."""
    if request.user.is_active and request.user.is_staff and queryset.filter(pk=pk).exists():
        return PermissionDenied(f"Reading another user's {what} needs the permission “Can read and download every "
                                "user's archives”, which a superuser can give you in the admin.")
    return Http404(f"No such {what}.")


def get_account_for_user(request: HttpRequest, pk: int, *, read: bool = False) -> Account:
    accounts = Account.objects.all() if read and _may_read_any(request) else accounts_for_user(request)
    try:
        return accounts.get(pk=pk)
    except Account.DoesNotExist:
        raise (_not_yours(request, Account.objects.all(), pk, "account") if read else Http404("No such account.")) \
            from None


def get_backup_for_user(request: HttpRequest, pk: int, *, read: bool = True) -> Backup:
    backups = Backup.objects.select_related("account", "same_as")
    if not (read and _may_read_any(request)):
        backups = backups.filter(account__owner=request.user)
    try:
        return backups.get(pk=pk)
    except Backup.DoesNotExist:
        raise (_not_yours(request, Backup.objects.all(), pk, "backup") if read else Http404("No such backup.")) \
            from None


def permission_required(permission: str, to: str) -> Callable:
    """For pages that do what an admin page does: the same model permission (a 403 with a sentence without it,
    ``to`` saying what it allows). Expects a logged-in user."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if not (request.user.is_active and request.user.is_staff and request.user.has_perm(permission)):
                raise PermissionDenied(f"Only an admin of this installation with the permission to {to} can open "
                                       "this page.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def staff_required(view: Callable) -> Callable:
    """For pages that change the whole installation (the trakt app). Expects a logged-in user."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied("Only an admin of this installation can open this page.")
        return view(request, *args, **kwargs)

    return wrapper
