"""Fetching every file of the catalog into an archive: in parallel, streamed, and incrementally.

How a run goes:

1. ``/sync/last_activities`` is read first.
2. With a previous successful archive of the account (and not ``full``), every
   category whose activity timestamps have not moved is carried over from that
   archive (its sha256 checked) with no request. The history is fetched newest
   first only until it reaches the newest item already held; when trakt's item
   count then equals the old count plus the new items, the rest is taken from
   the previous archive, otherwise (something was removed or back-dated) it is
   fetched again in full. Watched movies and shows, sorted by last watch, are
   merged the same way when the history grew only at the top.
3. Everything else is fetched by a small bounded pool of threads: the first page
   of every category at once, then the remaining pages as soon as their count
   is known, all through the account's rate limiter.
4. Each page is written to its own fragment file by the thread that fetched it;
   fragments are joined in order into the category's JSON array. Nothing holds
   a whole category in memory.

The archive is always complete: the same content as a full backup at that moment.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from backups import archive, storage
from backups.catalog import CATEGORIES, Category
from backups.trakt_client import BadResponse, Page, Skippable, TraktClient, TraktError

log = logging.getLogger(__name__)

HISTORY = "sync/history"
WATCHED = {"sync/watched/movies": "movie", "sync/watched/shows": "show"}


class PreviousArchive:
    """An earlier archive of the account, unpacked once and checked member by member."""

    def __init__(self, key: str, directory: Path, expected_sha256: str = ""):
        self.directory = directory
        with storage.open_archive(key) as raw:
            handle = _HashingReader(raw)
            self._unpack(handle, directory)
            while handle.read(1 << 20):  # the rest (tar padding) counts for the checksum too
                pass
        if expected_sha256 and handle.hexdigest() != expected_sha256:
            raise ValueError("its checksum does not match the one recorded when it was made")
        self.manifest = json.loads((directory / "manifest.json").read_text())
        self.files: dict[str, dict] = self.manifest.get("files", {})
        self.skipped: dict[str, dict] = self.manifest.get("skipped", {})
        self.activities = self._json("sync/last_activities.json") or {}

    @staticmethod
    def _unpack(handle, directory: Path) -> None:
        with tarfile.open(fileobj=handle, mode="r|gz") as tar:
            for member in tar:
                if not member.isfile() or "/" not in member.name:
                    continue
                inner = member.name.split("/", 1)[1]
                if ".." in Path(inner).parts or inner.startswith("/"):
                    raise ValueError("unsafe member in the previous archive")
                target = directory / inner
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    continue
                with open(target, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)

    def _json(self, member: str) -> Any:
        path = self.directory / member
        return json.loads(path.read_text()) if path.is_file() else None

    def checked_path(self, member: str) -> Path | None:
        """The member's file if it is present and matches its sha256 in the manifest."""
        entry = self.files.get(member)
        path = self.directory / member
        if entry is None or not path.is_file():
            return None
        if archive.sha256_file(path) != entry.get("sha256"):
            log.warning("previous archive member %s does not match its checksum; fetching it again", member)
            return None
        return path

    def value(self, member: str) -> Any:
        return self._json(member) if self.checked_path(member) else None


class _HashingReader:
    """A file wrapper that hashes everything read through it."""

    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def _activity(activities: dict, dotted: str) -> Any:
    value: Any = activities
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def unchanged(category: Category, before: dict, now: dict) -> bool:
    if not category.activities or not before:
        return False
    return all(_activity(before, key) == _activity(now, key) and _activity(now, key) is not None
               for key in category.activities)


@dataclass
class Job:
    category: Category
    file: str
    endpoint: str
    attempt: int = 1


RETRY = object()  # an assembly whose item count disagrees with trakt's: fetch the category once more
PLANNING = {"users/lists"}  # whole answers the run needs for what it fetches next


@dataclass
class Result:
    file: str
    items: int
    value: Any = None  # small non-paginated answers (users/lists) are kept for planning


@dataclass
class Counters:
    pages: int = 0
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def page(self) -> None:
        with self.lock:
            self.pages += 1


class Fetcher:
    def __init__(self, client: TraktClient, writer: archive.ArchiveWriter, *, previous: PreviousArchive | None,
                 concurrency: int, on_progress: Callable[[int, int, int], None]):
        self.client = client
        self.writer = writer
        self.previous = previous
        self.concurrency = max(1, concurrency)
        self.on_progress = on_progress
        self.counters = Counters()
        self.total = len(CATEGORIES)
        self.counts: dict[str, int] = {}
        self.fragments = writer.work / "fragments"
        self.carried: list[str] = []

    # -- progress -------------------------------------------------------------------------

    def _report(self) -> None:
        self.on_progress(self.counters.done, self.total, self.counters.pages)

    def _category_done(self) -> None:
        self.counters.done += 1
        self._report()

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> dict[str, int]:
        activities_category = next(c for c in CATEGORIES if c.file == "sync/last_activities")
        activities = self._get_value(Job(activities_category, *activities_category.expand()))
        activities_now = activities.value if isinstance(activities.value, dict) else {}
        self.counts[activities_category.file] = activities.items
        self._category_done()
        before = self.previous.activities if self.previous else {}

        fixed = [c for c in CATEGORIES if not c.per_list and c is not activities_category]
        per_list = [c for c in CATEGORIES if c.per_list]
        history_new: list[dict] | None = None
        to_fetch: list[Category] = []
        for category in fixed:
            if self.previous and unchanged(category, before, activities_now) and self._carry(category):
                self._category_done()
            elif self.previous and category.file == HISTORY:
                history_new = self._history_incremental(category)
                if history_new is None:
                    to_fetch.append(category)
                else:
                    self._category_done()
            else:
                to_fetch.append(category)
        if history_new is not None:  # the history grew only at the top: watched lists can be merged
            for category in [c for c in to_fetch if c.file in WATCHED]:
                moved = {key for key in category.activities
                         if _activity(before, key) != _activity(activities_now, key)}
                if moved - {"movies.watched_at", "episodes.watched_at"}:
                    continue  # something else changed it too (hidden, reset): fetch it whole
                if self._watched_incremental(category, history_new):
                    to_fetch.remove(category)
                    self._category_done()

        self._lists_carried = self.previous is not None and "users/lists" in self.carried and all(
            unchanged(c, before, activities_now) for c in per_list)
        self._per_list = per_list
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="fetch") as pool:
            self._engine = _Engine(self, pool, on_result=self._on_result)
            for category in to_fetch:
                self._engine.start(Job(category, *category.expand()))
            if "users/lists" not in {c.file for c in to_fetch}:  # carried over: its lists are known now
                self._start_lists(self.previous.value("users/lists.json") if self.previous else None)
            catalog_files = {c.file for c in CATEGORIES}
            for result in self._engine.wait_all(report=self._report):
                if result.file in catalog_files:  # lists' items are counted together below
                    self.counts[result.file] = result.items
        for category in per_list:
            prefix, suffix = category.file.split("{list_id}")
            self.counts[category.file] = sum(
                entry["items"] for member, entry in self.writer.files.items()
                if member.startswith(prefix) and member.endswith(suffix + ".json"))
            self._category_done()
        return self.counts

    def _on_result(self, result: Result) -> None:
        if result.file == "users/lists":
            self._start_lists(result.value)

    def _start_lists(self, lists_value: Any) -> None:
        for category in self._per_list:
            for list_id in _list_ids(lists_value):
                job = Job(category, *category.expand(list_id))
                if not (self._lists_carried and self._carry_file(category, job.file)):
                    self._engine.start(job)

    # -- carrying over -----------------------------------------------------------------------

    def _carry(self, category: Category) -> bool:
        if category.per_list:
            return False
        if self._carry_file(category, category.file):
            self.counts[category.file] = self.writer.files[self.writer.member(category.file)]["items"]
            return True
        member = self.writer.member(category.file)
        if self.previous and member in self.previous.skipped:  # e.g. VIP only: still not available
            self.writer.skip(category.file, category.endpoint, self.previous.skipped[member]["reason"])
            self.carried.append(category.file)
            return True
        return False

    def _carry_file(self, category: Category, file: str) -> bool:
        assert self.previous is not None
        member = self.writer.member(file)
        path = self.previous.checked_path(member)
        if path is None:
            return False
        entry = dict(self.previous.files[member])
        self.writer.copy_from(file, path, entry)
        self.carried.append(file)
        return True

    # -- incremental history and watched ------------------------------------------------------

    def _history_incremental(self, category: Category) -> list[dict] | None:
        """New plays at the top of the history, or None when it must be fetched in full."""
        assert self.previous is not None
        member = self.writer.member(category.file)
        old_path = self.previous.checked_path(member)
        old_count = self.previous.files.get(member, {}).get("items")
        if old_path is None or old_count is None:
            return None
        old_lines = archive.iter_array_lines(old_path)
        first_line = next(old_lines, None)
        if first_line is None:
            return None
        newest_held = json.loads(first_line).get("id")
        new_items: list[dict] = []
        new_ids: set = set()
        item_count = None
        pages = 0
        for page in self.client.pages(category.endpoint, category.params):
            self.counters.page()
            pages += 1
            item_count = page.item_count
            self._report()
            for item in page.items:
                if isinstance(item, dict) and item.get("id") == newest_held:
                    if not new_items or item_count is None or item_count != old_count + len(new_items):
                        return None  # the history moved below its top (a removal, a back-dated play)
                    out = self.writer.open_array(category.file)
                    out.extend(new_items)
                    out.extend_lines(archive.iter_array_lines(old_path))
                    sha = out.close()
                    self.writer.record(category.file, endpoint=category.endpoint, params=category.params,
                                       items=out.count, sha256=sha, item_count=item_count, pages=pages,
                                       source="incremental")
                    self.counts[category.file] = out.count
                    return new_items
                key = item.get("id") if isinstance(item, dict) else None
                if key is None or key not in new_ids:  # a play shifted onto the next page is kept once
                    new_ids.add(key)
                    new_items.append(item)
            if len(new_items) > 5000:  # a huge change: a full fetch is simpler and as cheap
                return None
        return None

    def _watched_incremental(self, category: Category, new_plays: list[dict]) -> bool:
        """Merge watched entries touched by the new plays (they sort first, by last watch) with the old list."""
        assert self.previous is not None
        kind = WATCHED[category.file]
        member = self.writer.member(category.file)
        old_path = self.previous.checked_path(member)
        if old_path is None:
            return False
        changed = {_entry_id(play, kind) for play in new_plays if _play_kind(play) == kind} - {None}
        if not changed:
            return self._carry_file(category, category.file) and self._count(category)
        fetched: list[dict] = []
        item_count = None
        pages = 0
        seen: set = set()
        for page in self.client.pages(category.endpoint, category.params):
            self.counters.page()
            pages += 1
            item_count = page.item_count
            self._report()
            fetched.extend(page.items)
            seen |= {_entry_id(item, kind) for item in page.items}
            if changed <= seen and len(fetched) > _last_index(fetched, changed, kind) + 1:
                break
        else:
            return False
        cut = _last_index(fetched, changed, kind) + 1
        head = fetched[:cut]
        head_ids = {_entry_id(item, kind) for item in head}
        remainder = (line for line in archive.iter_array_lines(old_path)
                     if _entry_id(json.loads(line), kind) not in head_ids)
        # the items fetched past the cut must be exactly the start of the old remainder
        check = fetched[cut:]
        out = self.writer.open_array(category.file)
        out.extend(head)
        buffered = []
        for expected in check:
            line = next(remainder, None)
            if line is None or json.loads(line) != expected:
                out.close()
                return False
            buffered.append(line)
        out.extend_lines(iter(buffered))
        out.extend_lines(remainder)
        sha = out.close()
        if item_count is not None and out.count != item_count:
            return False
        self.writer.record(category.file, endpoint=category.endpoint, params=category.params, items=out.count,
                           sha256=sha, item_count=item_count, pages=pages, source="incremental")
        self.counts[category.file] = out.count
        return True

    def _count(self, category: Category) -> bool:
        self.counts[category.file] = self.writer.files[self.writer.member(category.file)]["items"]
        return True

    # -- fetching ----------------------------------------------------------------------------

    def _get_value(self, job: Job) -> Result:
        return self.store_value(job, self.client.get(job.endpoint, job.category.params))

    def store_value(self, job: Job, response) -> Result:
        """A whole answer, checked for its shape and written as trakt sent it."""
        self.counters.page()
        value = _shaped(job, response.data)
        items = self.writer.write_value(job.file, value, endpoint=job.endpoint, params=job.category.params)
        return Result(job.file, items, value)

    def fragment(self, job: Job, number: int) -> Path:
        return self.fragments / archive.safe_component(job.file.replace("/", "__")) / f"{number:06d}.jsonl"

    def write_page(self, job: Job, page: Page) -> None:
        path = self.fragment(job, page.page)
        if page.page == 1:
            path.parent.mkdir(parents=True, exist_ok=True)
        encode = archive.encode_item
        with open(path, "wb") as out:
            out.write("".join(encode(item) + "\n" for item in page.items).encode())
        self.counters.page()


class _Assembly:
    """Joins one category's page fragments into its JSON array, in page order, as soon as each is next."""

    def __init__(self, fetcher: Fetcher, job: Job, page_count: int, item_count: int | None):
        self.fetcher, self.job = fetcher, job
        self.page_count, self.item_count = max(page_count, 1), item_count
        self.out = fetcher.writer.open_array(job.file)
        self.next = 1
        self.ready: set[int] = set()
        self.seen: set = set()
        self.value: list | None = [] if job.file in PLANNING else None

    def page_done(self, number: int, item_count: int | None):
        """None while pages are missing; then the Result, or RETRY when the item count does not add up."""
        if item_count is not None:
            self.item_count = item_count
        self.ready.add(number)
        key = self.job.category.unique_key
        while self.next in self.ready:
            path = self.fetcher.fragment(self.job, self.next)
            with open(path, "rb") as handle:
                lines = [line.rstrip(b"\n") for line in handle] if self.value is not None else (
                    line.rstrip(b"\n") for line in handle)
                if self.value is not None:
                    self.value.extend(json.loads(line) for line in lines)
                self.out.extend_lines(_unique(lines, key, self.seen) if key else lines)
            path.unlink()
            self.ready.discard(self.next)
            self.next += 1
        if self.next <= self.page_count:
            return None
        sha = self.out.close()
        if self.item_count is not None and self.out.count != self.item_count:
            # Items moved between pages while we read (something was added or removed at trakt meanwhile):
            # one item may have been skipped. Read the category once more; the second reading is kept.
            log.info("%s: %d items read, trakt counts %d", self.job.file, self.out.count, self.item_count)
            if self.job.attempt == 1:
                self.out.path.unlink(missing_ok=True)
                return RETRY
        self.fetcher.writer.record(self.job.file, endpoint=self.job.endpoint, params=self.job.category.params,
                                   items=self.out.count, sha256=sha, item_count=self.item_count,
                                   pages=self.page_count)
        return Result(self.job.file, self.out.count, self.value)


class _Engine:
    """Runs jobs on the pool: the first request of each, then its remaining pages, all concurrently.

    Workers fetch and write fragments; this (main) thread hears of each finished request through a
    queue, starts follow-up pages, and joins fragments in order while the network works.
    """

    def __init__(self, fetcher: Fetcher, pool: ThreadPoolExecutor, on_result: Callable[[Result], None]):
        self.fetcher = fetcher
        self.on_result = on_result
        self.pool = pool
        self.pending = 0
        self.done: queue.Queue = queue.Queue()
        self.assemblies: dict[str, _Assembly] = {}
        self.results: list[Result] = []
        self.failed = threading.Event()

    def _submit(self, kind: str, job: Job, fn, *args) -> None:
        self.pending += 1
        future = self.pool.submit(fn, *args)
        future.add_done_callback(lambda f: self.done.put((kind, job, f)))

    def start(self, job: Job) -> None:
        self._submit("first", job, self._first, job)

    def _first(self, job: Job):
        if self.failed.is_set():
            return None
        client = self.fetcher.client
        if not job.category.paginated:
            response = client.get(job.endpoint, job.category.params)
            if _page_count(response) <= 1:  # as documented: one answer
                return self.fetcher.store_value(job, response)
            # trakt started paginating an endpoint documented as whole: walk its pages too
        page = client.page(job.endpoint, job.category.params, 1)
        self.fetcher.write_page(job, page)
        return page

    def _page(self, job: Job, number: int) -> Page | None:
        if self.failed.is_set():
            return None
        page = self.fetcher.client.page(job.endpoint, job.category.params, number)
        self.fetcher.write_page(job, page)
        return page

    def wait_all(self, report: Callable[[], None]) -> list[Result]:
        try:
            while self.pending:
                try:
                    kind, job, future = self.done.get(timeout=0.5)
                except queue.Empty:
                    report()
                    continue
                self.pending -= 1
                self._handle(kind, job, future)
                report()
        except BaseException:
            self.failed.set()  # queued requests return at once; the pool shuts down quickly
            raise
        return self.results

    def _handle(self, kind: str, job: Job, future: Future) -> None:
        try:
            value = future.result()
        except Skippable as exc:
            if job.category.optional or (job.category.per_list and exc.status == 404):
                self.fetcher.writer.skip(job.file, job.endpoint, str(exc))
                self._finished_category(job)
                return
            raise TraktError(f"trakt could not provide {job.file} ({exc}).", exc.status) from exc
        if isinstance(value, Result):
            self._add(value, job)
            return
        page: Page = value
        if kind == "first":
            self.assemblies[job.file] = _Assembly(self.fetcher, job, page.page_count, page.item_count)
            for number in range(2, page.page_count + 1):
                self._submit("page", job, self._page, job, number)
        result = self.assemblies[job.file].page_done(page.page, page.item_count)
        if result is RETRY:
            del self.assemblies[job.file]
            self.start(Job(job.category, job.file, job.endpoint, attempt=job.attempt + 1))
        elif result is not None:
            del self.assemblies[job.file]
            self._add(result, job)

    def _add(self, result: Result, job: Job) -> None:
        self.results.append(result)
        self._finished_category(job)
        self.on_result(result)

    def _finished_category(self, job: Job) -> None:
        if not job.category.per_list:
            self.fetcher._category_done()


def _page_count(response) -> int:
    try:
        return int(response.headers.get("X-Pagination-Page-Count", "1"))
    except ValueError:
        return 1


def _unique(lines: Iterator[bytes], key: str, seen: set) -> Iterator[bytes]:
    prefix = b'{"' + key.encode() + b'": '
    for line in lines:
        value = None
        if line.startswith(prefix):  # trakt puts the id first: read it without parsing the whole item
            raw = line[len(prefix):line.find(b",", len(prefix))]
            value = int(raw) if raw.isdigit() else json.loads(line).get(key)
        elif line.startswith(b"{"):
            value = json.loads(line).get(key)
        if value is None or value not in seen:
            seen.add(value)
            yield line


def _shaped(job: Job, value: Any) -> Any:
    """A whole answer of the shape the catalog says, or BadResponse: never store a wrong answer as good."""
    if not isinstance(value, job.category.shape):
        kind = "an object" if job.category.shape is dict else "a list"
        raise BadResponse(f"trakt sent an unexpected answer for {job.endpoint} (expected {kind}).")
    return value


def _list_ids(value: Any) -> list[str]:
    """The lists' trakt ids: numbers only, since they go into request paths."""
    if not isinstance(value, list):
        return []
    ids = [item["ids"]["trakt"] for item in value
           if isinstance(item, dict) and isinstance(item.get("ids"), dict) and item["ids"].get("trakt") is not None]
    return [str(i) for i in ids if isinstance(i, int) or (isinstance(i, str) and i.isascii() and i.isdigit())]


def _play_kind(play: dict) -> str | None:
    return "movie" if play.get("type") == "movie" else "show" if play.get("type") == "episode" else None


def _entry_id(entry: Any, kind: str):
    """The trakt id of the movie or show of a play or a watched entry."""
    media = entry.get(kind) if isinstance(entry, dict) else None
    return (media or {}).get("ids", {}).get("trakt") if isinstance(media, dict) else None


def _last_index(items: list[dict], wanted: set, kind: str) -> int:
    return max((i for i, item in enumerate(items) if _entry_id(item, kind) in wanted), default=-1)
