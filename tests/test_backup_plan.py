"""The backup planner: a pure function of the catalog's roles and two sets of activities."""

from __future__ import annotations

import copy

from backups.catalog import CATEGORIES, OWN_LIST_ITEMS, Role, the
from backups.services.backup_plan import full_plan, plan_backup

ACTIVITIES = {
    "all": "2026-06-01T00:00:00.000Z",
    "movies": {"watched_at": "2026-05-01T00:00:00.000Z", "collected_at": "2026-05-01T00:00:00.000Z",
               "rated_at": "2026-05-01T00:00:00.000Z", "paused_at": "2026-05-01T00:00:00.000Z",
               "hidden_at": "2026-05-01T00:00:00.000Z", "commented_at": "2026-05-01T00:00:00.000Z"},
    "episodes": {"watched_at": "2026-05-01T00:00:00.000Z", "collected_at": "2026-05-01T00:00:00.000Z",
                 "rated_at": "2026-05-01T00:00:00.000Z", "paused_at": "2026-05-01T00:00:00.000Z",
                 "commented_at": "2026-05-01T00:00:00.000Z"},
    "shows": {"rated_at": "2026-05-01T00:00:00.000Z", "hidden_at": "2026-05-01T00:00:00.000Z",
              "dropped_at": "2026-05-01T00:00:00.000Z", "commented_at": "2026-05-01T00:00:00.000Z"},
    "seasons": {"rated_at": "2026-05-01T00:00:00.000Z", "hidden_at": "2026-05-01T00:00:00.000Z",
                "commented_at": "2026-05-01T00:00:00.000Z"},
    "comments": {"liked_at": "2026-05-01T00:00:00.000Z"},
    "lists": {"updated_at": "2026-05-01T00:00:00.000Z", "liked_at": "2026-05-01T00:00:00.000Z",
              "commented_at": "2026-05-01T00:00:00.000Z"},
    "watchlist": {"updated_at": "2026-05-01T00:00:00.000Z"},
    "favorites": {"updated_at": "2026-05-01T00:00:00.000Z"},
    "collaborations": {"updated_at": "2026-05-01T00:00:00.000Z"},
    "notes": {"updated_at": "2026-05-01T00:00:00.000Z"},
    "saved_filters": {"updated_at": "2026-05-01T00:00:00.000Z"},
    "account": {"settings_at": "2026-05-01T00:00:00.000Z", "followed_at": "2026-05-01T00:00:00.000Z",
                "following_at": "2026-05-01T00:00:00.000Z", "pending_at": "2026-05-01T00:00:00.000Z",
                "requested_at": "2026-05-01T00:00:00.000Z"},
}
LATER = "2026-06-02T00:00:00.000Z"


def moved(*keys: str) -> dict:
    now = copy.deepcopy(ACTIVITIES)
    now["all"] = LATER
    for key in keys:
        group, name = key.split(".")
        now[group][name] = LATER
    return now


def files(categories) -> set[str]:
    return {c.file for c in categories}


def test_without_a_previous_archive_everything_is_fetched_but_the_activities_and_list_items():
    expected = {c.file for c in CATEGORIES if c.role not in (Role.ACTIVITIES, Role.LIST_ITEMS)}
    assert files(full_plan().fetch) == expected


def test_nothing_moved_carries_everything_but_the_stats_and_what_has_no_activity():
    now = copy.deepcopy(ACTIVITIES)
    now["all"] = LATER  # the stats follow "all", which moves on every visit
    plan = plan_backup(ACTIVITIES, now)
    # the resets and the shared lists' items have no activity: read every time
    assert files(plan.fetch) == {"users/stats", "users/hidden/progress_watched_reset"}
    assert (plan.top_up, plan.carry_list_items) == (None, {OWN_LIST_ITEMS.file})


def test_new_plays_top_up_the_history_and_merge_the_watched_lists():
    plan = plan_backup(ACTIVITIES, moved("movies.watched_at", "episodes.watched_at"))
    watched = files(c for c in CATEGORIES if c.role is Role.WATCHED)
    assert (plan.top_up, files(plan.merge_after_top_up)) == (the(Role.HISTORY), watched)


def test_a_watched_list_moved_by_more_than_plays_is_fetched_whole():
    plan = plan_backup(ACTIVITIES, moved("episodes.watched_at", "shows.hidden_at"))
    assert (files(plan.merge_after_top_up), "sync/watched/shows" in files(plan.fetch)) == (set(), True)


def test_a_watched_list_moved_while_the_history_is_carried_is_fetched_whole():
    plan = plan_backup(ACTIVITIES, moved("shows.hidden_at"))
    assert (plan.top_up, plan.merge_after_top_up, "sync/watched/shows" in files(plan.fetch)) == (None, [], True)


def test_a_moved_list_index_fetches_every_list_again():
    plan = plan_backup(ACTIVITIES, moved("lists.updated_at"))
    assert ("users/lists" in files(plan.fetch), plan.carry_list_items) == (True, frozenset())


def test_missing_activities_carry_nothing():
    plan = plan_backup({}, ACTIVITIES)
    assert (plan.carry, plan.top_up) == ([], the(Role.HISTORY))
