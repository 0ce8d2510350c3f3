"""Fetching every file of the catalog into an archive writer: plan, carry over, then the pool.

1. ``/sync/last_activities`` is read first; with a previous archive the plan is made
   from it (``backup_plan``), without one everything is fetched.
2. Carried categories are copied from the previous archive (each checked against its
   sha256); one that fails the check is fetched instead.
3. Everything else runs on the executor (``fetch_executor``): fetch jobs, the history's
   top-up and the watched lists' merges (``incremental``), and the items of every list
   once the list index is known.

The archive is always complete: the same content as a full backup at that moment.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from backups import archive
from backups.catalog import CATEGORIES, SLUG, Category, Role, by_role, items_of, the
from backups.services import incremental
from backups.services.backup_plan import Plan, full_plan, plan_backup
from backups.services.fetch_executor import Executor, Job, Result, store_whole
from backups.trakt_client import TraktClient

log = logging.getLogger(__name__)

# Threads per request slot: while one thread reads and stores an answer, another's request is on the wire.
THREADS_PER_SLOT = 2

ProgressCallback = Callable[[int, int, int], None]  # (categories done, categories in all, pages fetched)


def _list_id(item: Any) -> str | None:
    """A list's trakt id: numbers only, since it goes into request paths."""
    if not (isinstance(item, dict) and isinstance(item.get("ids"), dict)):
        return None
    value = item["ids"].get("trakt")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.isascii() and value.isdigit()):
        return str(value)
    return None


def list_ids(value: Any) -> list[str]:
    """The lists' trakt ids, in the index's order."""
    return [i for i in map(_list_id, value if isinstance(value, list) else []) if i is not None]


def list_names(value: Any) -> dict[str, str]:
    """Each list's name by its trakt id, as trakt gives it (untrusted text: shown escaped, never a path)."""
    names = {}
    for item in value if isinstance(value, list) else []:
        if (list_id := _list_id(item)) is not None:
            name = item.get("name")
            names[list_id] = name.strip()[:200] if isinstance(name, str) and name.strip() else f"#{list_id}"
    return names


def list_owners(value: Any) -> dict[str, str]:
    """Each list's owner's slug by its trakt id, where it looks like a slug (it goes into a request path)."""
    owners = {}
    for item in value if isinstance(value, list) else []:
        user = item.get("user") if isinstance(item, dict) else None
        slug = user.get("ids", {}).get("slug") if isinstance(user, dict) and isinstance(user.get("ids"), dict) else None
        if (list_id := _list_id(item)) is not None and isinstance(slug, str) and SLUG.fullmatch(slug):
            owners[list_id] = slug
    return owners


@contextmanager
def _quick_handovers() -> Iterator[None]:
    """While the pool runs, a thread whose answer has arrived gets the GIL quickly, so its next request leaves
    at once: Python hands the GIL over every millisecond instead of every 5, and the objects alive before the
    fetch (Django's, the app's: hundreds of thousands) are left out of the collector's full passes, each of
    which would otherwise stop every thread for tens of milliseconds. Both are undone afterwards (a worker
    process runs other tasks)."""
    switch = sys.getswitchinterval()
    sys.setswitchinterval(min(switch, 0.001))
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        sys.setswitchinterval(switch)


class BackupFetch:
    """One run's fetching: what is planned, what is done, and the progress it reports."""

    def __init__(self, client: TraktClient, writer: archive.ArchiveWriter, *,
                 previous: archive.UnpackedArchive | None, concurrency: int, on_progress: ProgressCallback):
        self.client = client
        self.writer = writer
        self.previous = previous
        self.on_progress = on_progress
        self.executor = Executor(client, writer, threads=max(1, concurrency) * THREADS_PER_SLOT,
                                 on_result=self._finished, on_page=self._page)
        self.done: set[str] = set()  # catalog files finished (fetched, carried or skipped)
        self.carried: set[str] = set()  # catalog files carried over from the previous archive
        self.pages = 0
        self._pages_lock = threading.Lock()
        self.plan = Plan()
        # trakt id → (its items category, its name), of the lists whose items are fetched
        self.list_names: dict[str, tuple[Category, str]] = {}

    def run(self) -> dict[str, int]:
        """Fetch everything into the writer; returns the item count of every category."""
        self.plan = self._make_plan()
        fetch = list(self.plan.fetch)
        for category in self.plan.carry:
            if self._carry(category):
                self.done.add(category.file)
                self.carried.add(category.file)
            else:
                fetch.append(category)
        with _quick_handovers():
            self.executor.run(start=lambda: self._start(fetch), report=self._report)
        self.done.update(category.file for category in by_role(Role.LIST_ITEMS))
        self._report()
        return self._counts()

    # -- planning ----------------------------------------------------------------------------

    def _make_plan(self) -> Plan:
        # The activities come first, from this thread: the plan is made from them, and this first request
        # settles the grant (a refresh, if one is due) before the pool's threads share it.
        category = the(Role.ACTIVITIES)
        job = Job.of(category)
        result = store_whole(self.writer, job, self.client.get(job.endpoint, category.params))
        self._page()
        self.done.add(category.file)
        if self.previous is None:
            return full_plan()
        return plan_backup(self.previous.activities, result.value)

    def _start(self, fetch: list[Category]) -> None:
        for category in fetch:
            self.executor.submit(Job.of(category))
        if self.plan.top_up is not None:
            category = self.plan.top_up
            self.executor.call(
                lambda: incremental.top_up_history(self.client, self.writer, self.previous, category, self._page),
                then=self._topped_up)
        for index in by_role(Role.LIST_INDEX):
            if index.file in self.carried:  # its lists are known already
                self._start_lists(index, self.previous.value(self.writer.member(index.file)))

    # -- following up on finished work ---------------------------------------------------------

    def _finished(self, result: Result) -> None:
        if result.job.category.per_list:
            return
        self.done.add(result.job.file)
        if result.job.category.role is Role.LIST_INDEX and not result.skipped:
            self._start_lists(result.job.category, result.value)

    def _topped_up(self, new_plays: list[dict] | None) -> None:
        history = self.plan.top_up
        if new_plays is None:  # moved below its top: fetch it, and the watched lists, whole
            for category in [history, *self.plan.merge_after_top_up]:
                self.executor.submit(Job.of(category))
            return
        self.done.add(history.file)
        for category in self.plan.merge_after_top_up:
            self.executor.call(self._merge_task(category, new_plays), then=self._merged(category))

    def _merge_task(self, category: Category, new_plays: list[dict]) -> Callable[[], bool]:
        return lambda: incremental.merge_watched(self.client, self.writer, self.previous, category, new_plays,
                                                 self._page)

    def _merged(self, category: Category) -> Callable[[bool], None]:
        def then(merged: bool) -> None:
            if merged:
                self.done.add(category.file)
            else:
                self.executor.submit(Job.of(category))
        return then

    def _start_lists(self, index: Category, value: Any) -> None:
        category = items_of(index)
        carry = category.file in self.plan.carry_list_items and index.file in self.carried
        names, owners = list_names(value), list_owners(value)
        for list_id in list_ids(value):
            if category.needs_owner and list_id not in owners:
                log.warning("%s: list %s has no owner slug to read its items from", index.file, list_id)
                continue
            self.list_names[list_id] = (category, names[list_id])
            job = Job.of(category, list_id, owners.get(list_id, ""))
            if not (carry and self._carry_file(job.file)):
                self.executor.submit(job)

    # -- carrying over ---------------------------------------------------------------------------

    def _carry(self, category: Category) -> bool:
        if self._carry_file(category.file):
            return True
        member = self.writer.member(category.file)
        if member in self.previous.skipped:  # e.g. VIP only: still not available
            self.writer.skip(category.file, category.endpoint, self.previous.skipped[member]["reason"])
            return True
        return False

    def _carry_file(self, file: str) -> bool:
        member = self.writer.member(file)
        path = self.previous.checked_path(member)
        if path is None:
            return False
        self.writer.copy_from(file, path, dict(self.previous.files[member]))
        return True

    # -- progress and counts -----------------------------------------------------------------------

    def _page(self) -> None:
        with self._pages_lock:
            self.pages += 1

    def _report(self) -> None:
        self.on_progress(len(self.done), len(CATEGORIES), self.pages)

    def _counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        files = self.writer.files
        for category in CATEGORIES:
            if category.per_list:
                counts[category.file] = sum(entry["items"] for member, entry in files.items()
                                            if category.list_id_in(member.removesuffix(".json")) is not None)
            elif (member := self.writer.member(category.file)) in files:
                counts[category.file] = files[member]["items"]
        return counts

    def lists(self) -> dict[str, dict]:
        """The lists whose items the archive holds, for the dashboard's words: trakt id → {"name", "items",
        "of": the items category's file}."""
        lists = {}
        for list_id, (category, name) in self.list_names.items():
            entry = self.writer.files.get(self.writer.member(category.expand(list_id)[0]))
            if entry is not None:
                lists[list_id] = {"name": name, "items": entry["items"], "of": category.file}
        return lists

    def skipped(self) -> dict[str, str]:
        """What trakt did not provide, with its reason: archive file (without ``.json``) → reason."""
        return {member.removesuffix(".json"): entry["reason"] for member, entry in sorted(self.writer.skipped.items())}
