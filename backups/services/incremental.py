"""The two incremental fetches: the history's new top, and watched lists merged with the previous archive.

Both read pages in order (each page decides whether the next is needed), so each
runs as one sequential task on the executor's pool. Both either write a complete
file equal to what a full fetch would give, or return a "no" that sends the
category to a full fetch: the archive is always complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from backups import archive, codec
from backups.catalog import Category
from backups.trakt_client import Page, TraktClient

# Past this many new plays a full fetch is simpler and hardly dearer.
TOP_UP_LIMIT = 5000


def walk_pages(client: TraktClient, category: Category, on_page: Callable[[], None]) -> Iterator[Page]:
    """The category's pages in order, each counted as it arrives; the caller stops when it has enough."""
    for page in client.pages(category.endpoint, category.params):
        on_page()
        yield page


def top_up_history(client: TraktClient, writer: archive.ArchiveWriter, previous: archive.UnpackedArchive,
                   category: Category, on_page: Callable[[], None]) -> list[dict] | None:
    """The new plays at the top of the history, written before the previous archive's; None: fetch it whole."""
    member = writer.member(category.file)
    old_path = previous.checked_path(member)
    old_count = previous.files.get(member, {}).get("items")
    first_line = next(archive.iter_array_lines(old_path), None) if old_path else None
    if first_line is None or old_count is None:
        return None
    newest_held = codec.loads(first_line).get("id")
    new_items: list[dict] = []
    new_ids: set = set()
    for pages, page in enumerate(walk_pages(client, category, on_page), start=1):
        for item in page.items:
            if isinstance(item, dict) and item.get("id") == newest_held:
                if not new_items or page.item_count != old_count + len(new_items):
                    return None  # the history moved below its top (a removal, a back-dated play)
                out = writer.open_array(category.file)
                out.extend(new_items)
                out.extend_lines(archive.iter_array_lines(old_path))
                writer.record(category.file, endpoint=category.endpoint, params=category.params, items=out.count,
                              sha256=out.close(), item_count=page.item_count, pages=pages, source="incremental")
                return new_items
            key = item.get("id") if isinstance(item, dict) else None
            if key is None or key not in new_ids:  # a play shifted onto the next page is kept once
                new_ids.add(key)
                new_items.append(item)
        if page.item_count is None or len(new_items) > min(TOP_UP_LIMIT, page.item_count - old_count):
            # More new plays than trakt's count has grown by: something below the top moved too.
            return None
    return None


def merge_watched(client: TraktClient, writer: archive.ArchiveWriter, previous: archive.UnpackedArchive,
                  category: Category, new_plays: list[dict], on_page: Callable[[], None]) -> bool:
    """Merge the watched entries the new plays touched (they sort first, by last watch) with the old list."""
    member = writer.member(category.file)
    old_path = previous.checked_path(member)
    if old_path is None:
        return False
    kind = category.media
    changed = {media_id(play, kind) for play in new_plays if play_media(play) == kind} - {None}
    if not changed:
        writer.copy_from(category.file, old_path, dict(previous.files[member]))
        return True
    head, check, item_count, pages = _fetch_touched(client, category, changed, on_page)
    if head is None:
        return False
    head_ids = {media_id(item, kind) for item in head}
    remainder = (line for line in archive.iter_array_lines(old_path)
                 if media_id(codec.loads(line), kind) not in head_ids)
    out = writer.open_array(category.file)
    out.extend(head)
    # the items fetched past the touched ones must be exactly the start of the old remainder
    for expected in check:
        line = next(remainder, None)
        if line is None or codec.loads(line) != expected:
            out.close()
            return False
        out.extend_lines([line])
    out.extend_lines(remainder)
    sha = out.close()
    if item_count is not None and out.count != item_count:
        return False
    writer.record(category.file, endpoint=category.endpoint, params=category.params, items=out.count, sha256=sha,
                  item_count=item_count, pages=pages, source="incremental")
    return True


def _fetch_touched(client: TraktClient, category: Category, changed: set, on_page: Callable[[], None]):
    """(the entries up to the last touched one, the ones fetched past it, trakt's count, pages read);
    (None, …) when the list ends before every touched entry and one more were seen."""
    kind = category.media
    fetched: list[dict] = []
    seen: set = set()
    for pages, page in enumerate(walk_pages(client, category, on_page), start=1):
        fetched.extend(page.items)
        seen |= {media_id(item, kind) for item in page.items}
        cut = _last_index(fetched, changed, kind) + 1
        if changed <= seen and len(fetched) > cut:
            return fetched[:cut], fetched[cut:], page.item_count, pages
    return None, [], None, 0


def play_media(play: dict) -> str | None:
    """The key of a play's movie or show: "movie" for a movie's play, "show" for an episode's."""
    return {"movie": "movie", "episode": "show"}.get(play.get("type"))


def media_id(entry: Any, kind: str | None):
    """The trakt id of the movie or show of a play or a watched entry."""
    media = entry.get(kind) if isinstance(entry, dict) and kind else None
    return (media or {}).get("ids", {}).get("trakt") if isinstance(media, dict) else None


def _last_index(items: list[dict], wanted: set, kind: str | None) -> int:
    return max((i for i, item in enumerate(items) if media_id(item, kind) in wanted), default=-1)
