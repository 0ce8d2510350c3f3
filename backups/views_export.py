"""A backup's "Export" buttons: its archive as CSV, Letterboxd or trakt-import files, streamed as it is made.

The same service as `manage.py trakt_export` (``services/export_run``); whoever may download a backup may export it.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from backups.access import get_backup_for_user
from backups.exports import FORMATS
from backups.services.export_run import ExportError, export_backup
from backups.views import served_archive_key


def streamed(export) -> StreamingHttpResponse:
    """The export as a download; the response closes it (and removes its folder) when sent or given up."""
    response = StreamingHttpResponse(export, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


@login_required
@require_GET
def backup_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    backup = get_backup_for_user(request, pk)
    if fmt not in FORMATS:
        raise Http404("No such export format.")
    if served_archive_key(backup) is None:
        return render(request, "backups/missing.html", {"backup": backup}, status=404)
    try:
        export = export_backup(backup, fmt)
    except ExportError as exc:
        messages.error(request, str(exc))
        return redirect(reverse("dashboard") + f"#account-{backup.account_id}")
    return streamed(export)
