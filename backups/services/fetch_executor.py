"""Running fetch jobs on a bounded pool of threads, into the archive writer.

A job is one archive file to fetch (a catalog category, or one list's items). The
executor sends the first request of every job at once, then the remaining pages of
each as soon as their count is known; every page is a task of its own, so no slot
waits on a category whose size is not known yet. Worker threads fetch a page and
write it to its own fragment file; the coordinating thread (the one that calls
``run``) joins fragments in page order into the file's JSON array while the
network works. Sequential work that must read pages in order (an incremental
history's new top) runs as a task too, with ``call``.

The executor knows nothing of plans or previous archives: it reports each finished
file through ``on_result`` (which may submit more jobs) and each page through
``on_page``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backups import archive, codec
from backups.catalog import Category, Role
from backups.trakt_client import BadResponse, Page, Skippable, TraktClient, TraktError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One archive file to fetch."""

    category: Category
    file: str
    endpoint: str
    attempt: int = 1

    @classmethod
    def of(cls, category: Category, list_id: str | None = None, owner: str = "") -> Job:
        return cls(category, *category.expand(list_id, owner))


@dataclass
class Result:
    """A finished job: the file is recorded in the archive (or skipped, with the reason)."""

    job: Job
    items: int
    value: Any = None  # the parsed answer, kept only for the list index (the run needs its list ids)
    skipped: str = ""


class _RetryCategory(Exception):
    """The pages' items do not add up to trakt's count (items moved while we read): read the file again."""


def store_whole(writer: archive.ArchiveWriter, job: Job, response) -> Result:
    """A whole (non-paginated) answer, checked for the catalog's shape and written as trakt sent it."""
    value = response.data
    if not isinstance(value, job.category.shape):
        kind = "an object" if job.category.shape is dict else "a list"
        raise BadResponse(f"trakt sent an unexpected answer for {job.endpoint} (expected {kind}).")
    items = writer.write_value(job.file, value, endpoint=job.endpoint, params=job.category.params)
    return Result(job, items, value)


class _Assembly:
    """Joins one file's page fragments into its JSON array, in page order, as soon as each is next."""

    def __init__(self, executor: Executor, job: Job, page_count: int, item_count: int | None):
        self.executor, self.job = executor, job
        self.page_count, self.item_count = max(page_count, 1), item_count
        self.out = executor.writer.open_array(job.file)
        self.next = 1
        self.ready: set[int] = set()
        self.seen: set = set()
        self.value: list | None = [] if job.category.role is Role.LIST_INDEX else None

    def page_done(self, page: Page) -> Result | None:
        """None while pages are missing; then the Result. Raises _RetryCategory when the count does not add up."""
        if page.item_count is not None:
            self.item_count = page.item_count
        self.ready.add(page.page)
        while self.next in self.ready:
            self._append(self.executor.fragment(self.job, self.next))
            self.ready.discard(self.next)
            self.next += 1
        if self.next <= self.page_count:
            return None
        return self._finish()

    def _append(self, path: Path) -> None:
        key = self.job.category.unique_key
        data = path.read_bytes()
        lines = data.split(b"\n") if data else []  # one item a line, as _write_fragment wrote them
        if self.value is not None:
            self.value.extend(map(codec.loads, lines))
        self.out.extend_lines(_unique(lines, key, self.seen) if key else lines)
        path.unlink()

    def _finish(self) -> Result:
        sha = self.out.close()
        if self.item_count is not None and self.out.count != self.item_count:
            # Items moved between pages while we read (something was added or removed at trakt meanwhile):
            # one item may have been skipped. Read the file once more; the second reading is kept.
            log.info("%s: %d items read, trakt counts %d", self.job.file, self.out.count, self.item_count)
            if self.job.attempt == 1:
                self.out.path.unlink(missing_ok=True)
                raise _RetryCategory
        self.executor.writer.record(self.job.file, endpoint=self.job.endpoint, params=self.job.category.params,
                                    items=self.out.count, sha256=sha, item_count=self.item_count,
                                    pages=self.page_count)
        return Result(self.job, self.out.count, self.value)


class Executor:
    """Runs jobs through ``threads`` worker threads (the client bounds how many requests are on the wire)."""

    def __init__(self, client: TraktClient, writer: archive.ArchiveWriter, *, threads: int,
                 on_result: Callable[[Result], None], on_page: Callable[[], None]):
        self.client = client
        self.writer = writer
        self.threads = max(1, threads)
        self.on_result = on_result
        self.on_page = on_page
        self.fragments = writer.work / "fragments"
        self._pool: ThreadPoolExecutor | None = None
        self._pending = 0
        self._done: queue.Queue = queue.Queue()
        self._assemblies: dict[str, _Assembly] = {}
        self._failed = threading.Event()

    # -- submitting (from the coordinating thread, including from callbacks) -------------------

    def submit(self, job: Job) -> None:
        self._task(self._first, job, then=self._first_done, job=job)

    def call(self, fn: Callable[[], Any], then: Callable[[Any], None]) -> None:
        """Run ``fn`` on a worker (it may send requests through the client); hand its value to ``then`` here."""
        self._task(fn, then=then)

    def _task(self, fn: Callable, *args, then: Callable, job: Job | None = None) -> None:
        assert self._pool is not None, "submit jobs from within run()"
        self._pending += 1
        future = self._pool.submit(self._guarded, fn, *args)
        future.add_done_callback(lambda done: self._done.put((then, job, done)))

    def _guarded(self, fn: Callable, *args) -> Any:
        if self._failed.is_set():  # the run is failing: queued requests return at once
            return None
        return fn(*args)

    # -- running ---------------------------------------------------------------------------------

    def run(self, start: Callable[[], None], report: Callable[[], None]) -> None:
        """Call ``start`` (which submits the first jobs), then work until no task is left."""
        with ThreadPoolExecutor(self.threads, thread_name_prefix="fetch") as pool:
            self._pool = pool
            try:
                start()
                while self._pending:
                    try:
                        then, job, future = self._done.get(timeout=0.5)
                    except queue.Empty:
                        report()
                        continue
                    self._pending -= 1
                    self._handle(then, job, future)
                    report()
            except BaseException:
                self._failed.set()  # queued requests return at once; the pool shuts down quickly
                raise
            finally:
                self._pool = None

    def _handle(self, then: Callable, job: Job | None, future: Future) -> None:
        try:
            value = future.result()
        except Skippable as exc:
            if job is None or not _may_skip(job, exc):
                where = job.file if job else "a file"
                raise TraktError(f"trakt could not provide {where} ({exc}).", exc.status) from exc
            self.writer.skip(job.file, job.endpoint, str(exc))
            self.on_result(Result(job, 0, skipped=str(exc)))
            return
        if job is None:
            then(value)
        else:
            then(job, value)

    # -- the work of one job -----------------------------------------------------------------------

    def _first(self, job: Job) -> Page | Result:
        if not job.category.paginated:
            response = self.client.get(job.endpoint, job.category.params)
            if _page_count(response) <= 1:  # as documented: one answer
                self.on_page()
                return store_whole(self.writer, job, response)
            # trakt started paginating an endpoint documented as whole: walk its pages too
        return self._page(job, 1)

    def _page(self, job: Job, number: int) -> Page:
        page = self.client.page(job.endpoint, job.category.params, number)
        self._write_fragment(job, page)
        self.on_page()
        return page

    def _first_done(self, job: Job, value: Page | Result | None) -> None:
        if value is None:
            return
        if isinstance(value, Result):
            self.on_result(value)
            return
        self._assemblies[job.file] = _Assembly(self, job, value.page_count, value.item_count)
        for number in range(2, value.page_count + 1):
            self._task(self._page, job, number, then=self._page_done, job=job)
        self._page_done(job, value)

    def _page_done(self, job: Job, page: Page | None) -> None:
        if page is None:
            return
        try:
            result = self._assemblies[job.file].page_done(page)
        except _RetryCategory:
            del self._assemblies[job.file]
            self.submit(Job(job.category, job.file, job.endpoint, attempt=job.attempt + 1))
            return
        if result is not None:
            del self._assemblies[job.file]
            self.on_result(result)

    # -- fragments ---------------------------------------------------------------------------------

    def fragment(self, job: Job, number: int) -> Path:
        return self.fragments / archive.safe_component(job.file.replace("/", "__")) / f"{number:06d}.jsonl"

    def _write_fragment(self, job: Job, page: Page) -> None:
        path = self.fragment(job, page.page)
        if page.page == 1:  # later pages are asked for only once the first is written
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            out.write(b"\n".join(map(archive.encode_item, page.items)))


def _may_skip(job: Job, exc: Skippable) -> bool:
    """An optional endpoint refused (VIP only, not found), or a list deleted while we read: not a failure."""
    return job.category.optional or (job.category.per_list and exc.status == 404)


def _page_count(response) -> int:
    try:
        return int(response.headers.get("X-Pagination-Page-Count", "1"))
    except ValueError:
        return 1


def _unique(lines: list[bytes], key: str, seen: set) -> Iterator[bytes]:
    prefix = b'{"' + key.encode() + b'":'
    for line in lines:
        value = None
        if line.startswith(prefix):  # trakt puts the id first: read it without parsing the whole item
            raw = line[len(prefix):line.find(b",", len(prefix))].strip()
            value = int(raw) if raw.isdigit() else codec.loads(line).get(key)
        elif line.startswith(b"{"):
            value = codec.loads(line).get(key)
        if value is None or value not in seen:
            seen.add(value)
            yield line
