"""Restoring a backup from the dashboard: the plan (taken by a worker), a confirmation, live progress, the result.

The same service as `manage.py trakt_restore` (``services/restore_run``), run by a worker. Only an account's owner
may restore into it: a restore writes to the trakt account.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backups.access import get_backup_for_user
from backups.models import Backup, Restore
from backups.services.grants import ServiceError
from backups.services.restore_run import queue_restore


def _restore_for_owner(request: HttpRequest, pk: int) -> Restore:
    restore = (Restore.objects.select_related("account", "archive_backup", "safety_backup")
               .filter(pk=pk, account__owner=request.user).first())
    if restore is None:
        raise Http404("No such restore.")
    return restore


def _categories(restore: Restore) -> list[tuple[str, dict]]:
    return list((restore.categories or {}).items())


@login_required
@require_http_methods(["GET", "POST"])
def restore_start(request: HttpRequest, pk: int) -> HttpResponse:
    """A backup's "Restore…": what a restore does, then its plan made by a worker."""
    backup = get_backup_for_user(request, pk, read=False)
    if backup.status != Backup.Status.SUCCESS:
        raise Http404("Only a successful backup can be restored.")
    if request.method == "POST":
        try:
            restore = queue_restore(backup.account, backup, dry_run=True)
        except ServiceError as exc:
            messages.error(request, str(exc))
            return redirect("restore_start", pk=backup.pk)
        return redirect("restore_detail", pk=restore.pk)
    recent = Restore.objects.filter(account=backup.account).select_related("archive_backup")[:5]
    return render(request, "restores/start.html", {"backup": backup, "account": backup.account, "recent": recent})


@login_required
@require_GET
def restore_detail(request: HttpRequest, pk: int) -> HttpResponse:
    restore = _restore_for_owner(request, pk)
    newest = restore.account.backups.filter(status=Backup.Status.SUCCESS).order_by("-created").first()
    return render(request, "restores/detail.html", {"restore": restore, "account": restore.account,
                                                    "categories": _categories(restore), "newest": newest})


@login_required
@require_GET
def restore_status(request: HttpRequest, pk: int) -> JsonResponse:
    """A restore's state, polled by its page while it runs."""
    restore = _restore_for_owner(request, pk)
    html = render_to_string("restores/_state.html", {"restore": restore, "categories": _categories(restore)},
                            request=request)
    return JsonResponse({"status": restore.status, "active": restore.is_active, "html": html})


@login_required
@require_POST
def restore_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """The confirmation of a plan: a new restore of the same backup, of the chosen categories, planned anew
    against the account's state at that moment (so it writes only what is missing then)."""
    planned = _restore_for_owner(request, pk)
    chosen = [file for file in request.POST.getlist("category") if file in (planned.categories or {})]
    if planned.status != Restore.Status.PLANNED or planned.archive_backup is None:
        raise Http404("No such plan.")
    if not chosen:
        messages.error(request, "Choose at least one category to restore.")
        return redirect("restore_detail", pk=planned.pk)
    try:
        restore = queue_restore(planned.account, planned.archive_backup, only=chosen)
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("restore_detail", pk=planned.pk)
    messages.success(request, f"Restoring into {planned.account.username}: the account is backed up first, then "
                              "only what is missing is written.")
    return redirect("restore_detail", pk=restore.pk)
