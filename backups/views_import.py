"""Importing trakt's own data export from the browser: the upload is streamed to a temporary file (never held in
memory, refused past ``IMPORT_MAX_UPLOAD`` while it arrives), then the same service as `manage.py trakt_import`."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from backups.services.grants import ServiceError
from backups.services.import_run import import_export

TRAKT_EXPORT_PAGE = "https://trakt.tv/settings/data"


class ImportForm(forms.Form):
    export = forms.FileField(label="trakt's export (the .zip file)")
    username = forms.CharField(label="The trakt username it is of", max_length=200)


class LimitedUpload(TemporaryFileUploadHandler):
    """A temporary file on disk, given up (and the connection closed) as soon as the upload passes the limit."""

    too_large = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.too_large = content_length > settings.IMPORT_MAX_UPLOAD  # said by the browser: checked again below

    def receive_data_chunk(self, raw_data, start):
        if self.too_large or start + len(raw_data) > settings.IMPORT_MAX_UPLOAD:
            self.too_large = True
            raise StopUpload(connection_reset=True)
        return super().receive_data_chunk(raw_data, start)


@csrf_exempt  # the upload handler must be set before the body is read; the CSRF check follows, below
@login_required
def import_export_page(request: HttpRequest) -> HttpResponse:
    handler = LimitedUpload(request)
    request.upload_handlers = [handler]
    return _import_page(request, handler)


@csrf_protect
def _import_page(request: HttpRequest, handler: LimitedUpload) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    valid = form.is_bound and form.is_valid()
    if form.is_bound and handler.too_large:
        form.errors.clear()  # its file was given up on: that is the only thing to say
        form.add_error(None, f"The file is larger than this installation accepts "
                             f"({filesizeformat(settings.IMPORT_MAX_UPLOAD)}, IMPORT_MAX_UPLOAD). Nothing was stored.")
    elif valid:
        upload = form.cleaned_data["export"]
        try:
            backup = import_export(Path(upload.temporary_file_path()), form.cleaned_data["username"], request.user)
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            total = sum(v for v in backup.item_counts.values() if isinstance(v, int))
            tell = messages.warning if backup.problems else messages.success
            tell(request, f"Imported {backup.account.username}'s export: {total:,} items."
                          + (f" This archive is partial: {backup.problems}" if backup.problems else ""))
            return redirect(reverse("dashboard") + f"#account-{backup.account.pk}")
        finally:
            upload.close()
    return render(request, "front/import.html", {"form": form, "export_page": TRAKT_EXPORT_PAGE,
                                                 "max_upload": settings.IMPORT_MAX_UPLOAD},
                  status=400 if form.errors else 200)
