"""Looking inside backups: their sections (history, ratings, lists, …) searched and filtered a page at a time,
the comparison of two backups of an account, and charts of the viewing they hold.

The pages read the archives' indexes (``services/browse_index``), built on the first open (by a worker for a
large archive, while the page says so); whoever may download a backup may browse it, compare it with another
backup of the same account, and see its charts.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from backups import archive
from backups.access import get_backup_for_user
from backups.models import Backup
from backups.services import browse_index, charts, compare
from backups.views import served_archive_key

PER_PAGE = 50
FILTERS = ("q", "type", "since", "until", "rating", "list_id", "show")


def _unindexed(request: HttpRequest, *backups: Backup) -> HttpResponse | None:
    """The page to show instead while an archive is missing (404) or its index is being built (202)."""
    for backup in backups:
        if served_archive_key(backup) is None:
            return render(request, "backups/missing.html", {"backup": backup}, status=404)
    for backup in backups:
        try:
            if not browse_index.ensure(backup):
                return render(request, "browse/preparing.html", {"backup": backup}, status=202)
        except archive.DamagedArchive:  # found out as it was opened: recorded, so every page now refuses it
            return render(request, "backups/missing.html", {"backup": backup}, status=409)
    return None


def _filters(request: HttpRequest, section: str) -> browse_index.Filters:
    return browse_index.Filters(section, **{name: request.GET.get(name, "")[:200] for name in FILTERS})


@login_required
@require_GET
def backup_browse(request: HttpRequest, pk: int, section: str = "history") -> HttpResponse:
    backup = get_backup_for_user(request, pk)
    if section not in browse_index.BY_NAME:
        raise Http404("No such section.")
    if waiting := _unindexed(request, backup):
        return waiting
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


@login_required
@require_GET
def backup_compare(request: HttpRequest, pk: int) -> HttpResponse:
    """This backup beside another of its account (``with``; by default the one before it): per section what was
    added, removed and changed, and the items of one section and kind (``section``, ``kind``) a page at a time."""
    backup = get_backup_for_user(request, pk)
    pair = compare.pick(backup, request.GET.get("with", "")[:20])
    others = backup.account.backups.filter(status=Backup.Status.SUCCESS).exclude(pk=backup.pk).order_by("-created")
    context = {"backup": backup, "account": backup.account, "others": others, "sections": browse_index.SHEETS}
    if pair is None and request.GET.get("with"):
        raise Http404("No such backup of this account.")  # another account's too: never compared, never named
    if pair is None:
        return render(request, "browse/compare.html", context)
    if waiting := _unindexed(request, *pair):
        return waiting
    with compare.Comparison(*pair) as comparison:
        counts = comparison.counts()
        section, kind = _chosen(request, counts)
        total = next((getattr(c, kind) for c in counts if c.sheet.name == section), 0)
        page = Paginator(range(total), PER_PAGE).get_page(request.GET.get("page"))
        changes = comparison.changes(section, kind, page.start_index() - 1, PER_PAGE) if total else []
    return render(request, "browse/compare.html", {
        **context, "older": pair[0], "newer": pair[1], "other": pair[0] if pair[1] == backup else pair[1],
        "counts": counts, "section": section, "kind": kind, "sheet": browse_index.BY_NAME[section], "page": page,
        "changes": changes, "total": total, "kinds": compare.KINDS,
        "changed_any": any(c.total for c in counts)})


def _chosen(request: HttpRequest, counts: list[compare.Counts]) -> tuple[str, str]:
    """The section and kind asked for; else the first section with changes, and its first kind that has some."""
    section, kind = request.GET.get("section", ""), request.GET.get("kind", "")
    if section in browse_index.BY_NAME and kind in compare.KINDS:
        return section, kind
    first = next((c for c in counts if c.total), None)
    if first is None:
        return "history", "removed"
    return first.sheet.name, next(k for k in compare.KINDS if getattr(first, k))


@login_required
@require_GET
def backup_charts(request: HttpRequest, pk: int) -> HttpResponse:
    """Charts of the viewing a backup holds, each with its numbers as a table; ``year`` for the year in review."""
    backup = get_backup_for_user(request, pk)
    if waiting := _unindexed(request, backup):
        return waiting
    with browse_index.Index(backup) as index:
        data = index.charts
    return render(request, "browse/charts.html", {
        "backup": backup, "account": backup.account, **charts.drawn(data, request.GET.get("year", "")[:4])})
