"""Writing a restore's plan to trakt: only what is missing, in batches, one write a second.

Batches go through the account's client (its write limiter spaces them at least a second apart; a 429's
``Retry-After`` is honoured). A batch of an idempotent category that keeps failing is split in halves. A history
batch whose answer was lost is never resent: the history is read again and what is still missing is planned
anew, so a play is never posted twice. A 420 (an account limit) stops the category with a sentence naming the
limit; the other categories go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from backups.restore_catalog import Restorable
from backups.services.restore_plan import CategoryPlan, Write, plan_category
from backups.trakt_client import AnswerLost, LimitReached, Skippable, TraktClient, Unavailable

log = logging.getLogger(__name__)

# Titles of items trakt did not find, kept per category for the result.
NOT_FOUND_SHOWN = 20
# A lost answer is read back after this many times the request timeout (the request may still be under way).
LOST_ANSWER_WAIT = 2
# Lost answers in a row before the category stops (an outage of writes): run the restore again later.
LOST_ANSWERS_IN_A_ROW = 3
# The limit of /users/settings a 420 of a category meets: (limits key, field, what a person calls it).
LIMITS = {"sync/watchlist": ("watchlist", "item_count", "watchlist items"),
          "sync/favorites": ("favorites", "item_count", "favorites"),
          "users/lists": ("list", "count", "lists"),
          "users/lists/{list_id}/items": ("list", "item_count", "items per list")}


@dataclass
class Outcome:
    """What became of one category's writes."""

    added: int = 0
    existing: int = 0
    not_found: int = 0
    not_found_titles: list[str] = field(default_factory=list)
    refused: int = 0
    problem: str = ""

    def as_dict(self) -> dict:
        return {"added": self.added, "existing": self.existing, "not_found": self.not_found,
                "not_found_titles": self.not_found_titles, "refused": self.refused, "problem": self.problem}


def body_of(writes: list[Write]) -> dict[str, list]:
    body: dict[str, list] = {}
    for write in writes:
        body.setdefault(write.group, []).append(write.entry)
    return body


def _count(block: Any) -> int:
    return sum(v for v in block.values() if isinstance(v, int) and not isinstance(v, bool)) \
        if isinstance(block, dict) else 0


def _ids_key(entry: Any) -> tuple:
    """The ids of a written item (a note's are its item's), to find it among trakt's not_found."""
    if isinstance(entry, dict) and isinstance(entry.get("item"), dict):
        entry = entry["item"].get(entry["item"].get("type"))
    ids = entry.get("ids") if isinstance(entry, dict) else None
    return tuple(sorted((k, str(v)) for k, v in ids.items())) if isinstance(ids, dict) else ()


def _note_answer(outcome: Outcome, answer: Any, batch: list[Write]) -> None:
    answer = answer if isinstance(answer, dict) else {}
    outcome.added += _count(answer.get("added")) + _count(answer.get("updated"))
    outcome.existing += _count(answer.get("existing"))
    missed = answer.get("not_found") if isinstance(answer.get("not_found"), dict) else {}
    lost = {_ids_key(entry) for entries in missed.values() if isinstance(entries, list) for entry in entries}
    lost.discard(())
    titles = [write.title for write in batch if _ids_key(write.entry) in lost]
    outcome.not_found += len(titles)
    outcome.not_found_titles = (outcome.not_found_titles + titles)[:NOT_FOUND_SHOWN]


def limit_sentence(client: TraktClient, row: Restorable, done: int, refused: int) -> str:
    """"trakt allows this account 100 watchlist items; 80 were restored, 20 were not.", from /users/settings."""
    key, field_name, words = LIMITS.get(row.file, ("", "", ""))
    limit = None
    if key:
        try:
            limit = (((client.get_json("/users/settings") or {}).get("limits") or {}).get(key) or {}).get(field_name)
        except Exception:  # noqa: BLE001 - the sentence does without the number
            log.info("could not read the account's limits", exc_info=True)
    allows = (f"trakt allows this account {limit} {words}" if isinstance(limit, int) and not isinstance(limit, bool)
              else "trakt refused more of these: the account reached one of its limits (420)")
    return f"{allows}; {done} were restored, {refused} were not."


class Writer:
    """Posts one category's missing items. ``reread`` gives the category's current value again (after a lost
    history answer); ``progress`` is told after every batch."""

    def __init__(self, client: TraktClient, *, reread: Callable[[str], Any], progress: Callable[[], None]):
        self.client = client
        self.reread = reread
        self.progress = progress
        self.writes = 0

    def apply(self, plan: CategoryPlan, row: Restorable, endpoint: str, archive_value: Any = None) -> Outcome:
        outcome = Outcome()
        pending = list(plan.missing)
        size, lost = (1 if row.single else settings.RESTORE_BATCH), 0
        while pending:
            batch = pending[:size]
            try:
                answer = self._post(endpoint, batch, plan.idempotent, row.single)
            except LimitReached:
                outcome.refused = len(pending)
                outcome.problem = limit_sentence(self.client, row, outcome.added, outcome.refused)
                return outcome
            except AnswerLost as exc:
                lost += 1
                self._give_up_after(lost, plan, exc)
                pending = self._replan(plan, row, archive_value, outcome, len(pending))
                continue
            except Skippable as exc:  # a single item trakt does not know (a note's): noted, not fatal
                if not (row.single and exc.status == 404):
                    raise
                answer = {"not_found": {"notes": [batch[0].entry]}}
            except Unavailable:
                if size == 1 or not plan.idempotent:
                    raise
                size = max(1, min(size, len(batch)) // 2)  # trakt meets large batches with 5xx: smaller ones
                continue
            lost = 0
            _note_answer(outcome, answer, batch)
            pending = pending[len(batch):]
            self.progress()
        return outcome

    @staticmethod
    def _give_up_after(lost: int, plan: CategoryPlan, exc: AnswerLost) -> None:
        if lost > LOST_ANSWERS_IN_A_ROW:
            raise Unavailable(f"trakt did not answer {lost} writes of {plan.label} in a row ({exc}) Run the restore "
                              "again later: it starts where trakt is, nothing is posted twice.")

    def _post(self, endpoint: str, batch: list[Write], idempotent: bool, single: bool) -> Any:
        self.writes += 1
        answer = self.client.post(endpoint, batch[0].entry if single else body_of(batch), idempotent=idempotent)
        return {"added": {"notes": 1}} if single else answer  # one item a request: its 201 is its addition

    def _replan(self, plan: CategoryPlan, row: Restorable, archive_value: Any, outcome: Outcome,
                pending: int) -> list[Write]:
        """After a lost answer: what is still missing, from trakt's state read again."""
        log.info("a write of %s lost its answer: reading it again before going on", plan.file)
        # A request the client gave up on may still be at work at trakt: give it as long again, and more.
        self.client.sleep(LOST_ANSWER_WAIT * settings.TRAKT_TIMEOUT)
        fresh = plan_category(row, archive_value, self.reread(plan.file))
        outcome.added += max(0, pending - len(fresh.missing))  # the lost batch's plays that did land
        return fresh.missing
