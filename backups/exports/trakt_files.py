"""The trakt-import export: the files of trakt's own data export that trakt's importer reads back.

``watched-history``, ``lists-watchlist`` and ``ratings-{movies,shows,seasons,episodes}``, in the shapes of trakt's
export (the API's answers, unchanged) and its page splits: pages of 250, a ``-{page}`` suffix only when there is
more than one page. ``user-settings`` goes with them, so that the ZIP is also an export this project's own import
reads (it names whose data it is). The archive files they come from are those ``export_catalog.py`` maps, read
backwards: one table for both ways.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from itertools import islice

from backups.archive import UnpackedArchive
from backups.export_catalog import BY_KIND
from backups.exports.zipout import ZipOut

PAGE = 250  # trakt's export's page size
KINDS = ("watched-history", "lists-watchlist", *(f"ratings-{kind}" for kind in ("movies", "shows", "seasons",
                                                                                  "episodes")))
WHOSE = "user-settings"


def _pages(items: Iterator) -> Iterator[list]:
    while page := list(islice(items, PAGE)):
        yield page


def write_trakt_files(source: UnpackedArchive, out: ZipOut) -> Generator[None, None, list[str]]:
    settings = source.value(f"{BY_KIND[WHOSE].file}.json")
    if isinstance(settings, dict):
        out.json(f"{WHOSE}.json", settings)
    counts = []
    for kind in KINDS:
        pages = _pages(source.items(f"{BY_KIND[kind].file}.json"))
        first, count = next(pages, []), 0
        second = next(pages, None)
        if second is None:
            out.json(f"{kind}.json", first)
            count = len(first)
        else:
            for number, page in enumerate((first, second), start=1):
                out.json(f"{kind}-{number}.json", page)
            count = len(first) + len(second)
            for number, page in enumerate(pages, start=3):
                out.json(f"{kind}-{number}.json", page)
                count += len(page)
                yield
        counts.append(f"{kind} {count:,}")
        yield
    return ["Files for trakt's importer (trakt.tv/settings/data): " + ", ".join(counts) + "."]
