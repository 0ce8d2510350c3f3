"""What test modules share, by job:

- ``fixtures``: pytest fixtures (``emulator``, ``trakt``, ``admin_user``, alice, bob, charlie and their clients,
  ``alice_backup``),
  loaded for every test by ``tests/conftest.py``;
- ``factories``: app credentials, users, signed-in clients, connected trakt accounts;
- ``archives``: reading, copying, damaging and hashing archives, and comparing them with the emulator's data;
- ``processes``: the app's commands in second processes that share the test's database and emulator;
- ``waiting``: waiting for a condition, and threads with a database connection of their own;
- ``html``: the visible text and the elements of a page;
- ``browser``: the headless Chromium of the browser tests (fixtures ``browser`` and ``page``), signing in,
  a background worker, and ``BROWSER_TEST``, the marks of a browser test module.
"""

from .archives import (
    archive_copy,
    assert_archive_matches,
    damage_archive,
    empty_archive_bucket,
    local_archive,
    read_archive,
    sha256_of,
)
from .factories import CLIENT_ID, CLIENT_SECRET, OOB, PASSWORD, connect_account, make_user, signed_in
from .html import find, find_all, page_text, parse
from .processes import ROOT, app_env, killed_midway, manage, start_manage
from .waiting import in_thread, wait_for

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "OOB",
    "PASSWORD",
    "ROOT",
    "app_env",
    "archive_copy",
    "assert_archive_matches",
    "connect_account",
    "damage_archive",
    "empty_archive_bucket",
    "find",
    "find_all",
    "in_thread",
    "killed_midway",
    "local_archive",
    "make_user",
    "manage",
    "page_text",
    "parse",
    "read_archive",
    "sha256_of",
    "signed_in",
    "start_manage",
    "wait_for",
]
