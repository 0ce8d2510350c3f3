"""Planning a backup: what can be carried over from the previous archive, and what must be fetched.

A pure function of the catalog (``backups/catalog.py``, whose roles it reads), the
previous archive's ``/sync/last_activities`` and today's: no request, no file.

- A category whose activity timestamps have not moved is **carried** over.
- The history (role HISTORY) that moved gets a **top-up**: only its new top is fetched.
- A watched list (role WATCHED) moved only by new plays is **merged** with the previous
  one, if the top-up succeeded (else it is fetched).
- Everything else is **fetched**; list items are carried when neither the list index
  nor the lists moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backups.catalog import BY_FILE, CATEGORIES, Category, Role, by_role

# The activities that new plays move: a watched list moved by nothing else can be merged.
PLAY_ACTIVITIES = frozenset({"movies.watched_at", "episodes.watched_at"})


@dataclass
class Plan:
    carry: list[Category] = field(default_factory=list)
    top_up: Category | None = None
    merge_after_top_up: list[Category] = field(default_factory=list)
    fetch: list[Category] = field(default_factory=list)
    # The per-list items categories whose lists' items may be copied from the previous archive (nothing moved
    # them or their index; a category without activities, the shared lists' items, is always fetched).
    carry_list_items: frozenset[str] = frozenset()


def activity(activities: dict, dotted: str) -> Any:
    """``activities["a"]["b"]`` for ``"a.b"``, or None."""
    value: Any = activities
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def moved(category: Category, before: dict, now: dict) -> set[str]:
    """The category's activity keys that changed (all of them when nothing can be compared)."""
    if not category.activities or not before:
        return set(category.activities) or {"*"}
    return {key for key in category.activities
            if activity(now, key) is None or activity(before, key) != activity(now, key)}


def full_plan() -> Plan:
    """No previous archive (or a full backup asked for): fetch everything (the activities were fetched first)."""
    return Plan(fetch=[c for c in CATEGORIES if c.role not in (Role.ACTIVITIES, Role.LIST_ITEMS)])


def plan_backup(before: dict, now: dict) -> Plan:
    """The plan of an incremental backup, from the previous archive's activities and today's.

    The activities were fetched already (they are what the plan is made from).
    """
    plan = Plan()
    for category in CATEGORIES:
        if category.role in (Role.ACTIVITIES, Role.LIST_ITEMS):
            continue
        changes = moved(category, before, now)
        if not changes:
            plan.carry.append(category)
        elif category.role is Role.HISTORY:
            plan.top_up = category
        elif category.role is Role.WATCHED and not changes - PLAY_ACTIVITIES:
            plan.merge_after_top_up.append(category)
        else:
            plan.fetch.append(category)
    if plan.top_up is None:  # no top-up to merge with: watched lists are fetched whole
        plan.fetch += plan.merge_after_top_up
        plan.merge_after_top_up = []
    plan.carry_list_items = frozenset(
        items.file for items in by_role(Role.LIST_ITEMS)
        if not moved(items, before, now) and not moved(BY_FILE[items.items_of], before, now))
    return plan
