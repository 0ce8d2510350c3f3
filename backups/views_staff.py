"""Pages for the installation's staff beside the admin: the doctor. Thin, like the dashboard's views."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from backups.access import staff_required
from backups.services import doctor


@login_required
@staff_required
@require_GET
def doctor_page(request: HttpRequest) -> HttpResponse:
    """The same checks as `manage.py doctor`, run as the page is opened."""
    results = doctor.run_checks()
    return render(request, "staff/doctor.html", {
        "results": results,
        "summary": doctor.summary(results),
        "outcome": {0: "success", 1: "error", 2: "warning"}[doctor.exit_code(results)],
    })
