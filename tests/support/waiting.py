"""Waiting in tests: for a condition to come true, and in threads that each hold a database connection."""

from __future__ import annotations

import functools
import time

from django.db import connection


def wait_for(condition, timeout: float, what: str, interval: float = 0.02) -> None:
    """Return once CONDITION() is true; fail the test, naming WHAT, after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def in_thread(function):
    """FUNCTION for a worker thread: with a database connection of its own, closed at the end."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()

    return run
