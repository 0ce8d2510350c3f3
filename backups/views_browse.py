"""Browsing inside a backup: its sections (history, ratings, lists, …), searched and filtered, a page at a time.

The pages read the archive's index (``services/browse_index``), built on the first open (by a worker for a large
archive, while the page says so); whoever may download a backup may browse it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from backups.access import get_backup_for_user
from backups.services import browse_index
from backups.views import served_archive_key

PER_PAGE = 50
FILTERS = ("q", "type", "since", "until", "rating", "list_id", "show")


def _filters(request: HttpRequest, section: str) -> browse_index.Filters:
    return browse_index.Filters(section, **{name: request.GET.get(name, "")[:200] for name in FILTERS})


@login_required
@require_GET
def backup_browse(request: HttpRequest, pk: int, section: str = "history") -> HttpResponse:
    backup = get_backup_for_user(request, pk)
    if served_archive_key(backup) is None:
        return render(request, "backups/missing.html", {"backup": backup}, status=404)
    if section not in browse_index.BY_NAME:
        raise Http404("No such section.")
    if not browse_index.ensure(backup):
        return render(request, "browse/preparing.html", {"backup": backup}, status=202)
    filters = _filters(request, section)
    with browse_index.Index(backup) as index:
        sections = index.sections()
        page = Paginator(index.results(filters), PER_PAGE).get_page(request.GET.get("page"))
        context = {
            "backup": backup, "account": backup.account, "sections": sections, "section": section,
            "sheet": browse_index.BY_NAME[section], "page": page, "items": list(page.object_list),
            "filters": filters, "types": index.types(section), "ratings": index.ratings(section),
            "lists": index.lists() if section == "list-items" else [],
            "query": urlencode({k: v for k, v in request.GET.items() if k in FILTERS and v}),
        }
    return render(request, "browse/section.html", context)
