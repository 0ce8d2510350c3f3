"""How busy the server is: requests in flight, measured from the server's side.

A client that keeps its pool full shows ``concurrency`` requests in flight from its first
request to its last; the benchmark reads ``average_in_flight`` to check that it does.
"""

from __future__ import annotations

import threading
import time


class FlightRecorder:
    """Counts API requests between their arrival and the end of their answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.now = 0
            self.most = 0
            self.busy = 0.0  # seconds of requests in flight, summed over requests
            self.first: float | None = None
            self.last: float | None = None

    def begin(self, arrived: float | None = None) -> Flight:
        """A request has arrived (at ``arrived``, a time.monotonic() reading, or now)."""
        moment = time.monotonic() if arrived is None else arrived
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
            if self.first is None:
                self.first = moment
        return Flight(self, moment)

    def _end(self, began: float) -> None:
        moment = time.monotonic()
        with self._lock:
            self.now -= 1
            self.busy += moment - began
            self.last = moment

    def summary(self) -> dict:
        with self._lock:
            span = (self.last - self.first) if self.first is not None and self.last is not None else 0.0
            return {"busy_seconds": round(self.busy, 4), "span_seconds": round(span, 4), "max_in_flight": self.most,
                    "average_in_flight": round(self.busy / span, 3) if span else 0.0}


class Flight:
    """One request in flight. It lands when its answer goes out (before the bytes are written: a client that
    reads the last byte and sends its next request at once must not be seen with one request too many)."""

    def __init__(self, recorder: FlightRecorder, began: float):
        self._recorder = recorder
        self._began = began
        self._landed = False

    def land(self) -> None:
        if not self._landed:
            self._landed = True
            self._recorder._end(self._began)
