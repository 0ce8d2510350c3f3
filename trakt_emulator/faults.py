"""Injected faults: which requests fail, and how (the HTTP layer builds the failing answers)."""

import itertools
import re


FAULT_KINDS = ("status", "429", "html", "reset", "timeout", "truncated", "wrong_shape", "invalid_grant",
               "drop_headers")


class FaultSpec:
    """An injected fault: the next `times` requests matching (after skipping `after` matches) get it.

    `path` is a regex searched in the request path (no query string); `method` and `host`
    ("api" / "auth") restrict further; `times=None` means forever.  Attributes `skipped` and
    `fired` count what happened; `cancel()` removes it."""

    _ids = itertools.count(1)

    def __init__(self, kind, path=None, method=None, host=None, after=0, times=1, **opts):
        if kind not in FAULT_KINDS:
            raise ValueError("unknown fault kind %r (one of %s)" % (kind, ", ".join(FAULT_KINDS)))
        if host not in (None, "api", "auth"):
            raise ValueError("host must be 'api', 'auth' or None")
        self.id = next(FaultSpec._ids)
        self.kind = kind
        self.path = path
        self._rx = re.compile(path) if path else None
        self.method = method.upper() if method else None
        self.host = host
        self.after = int(after or 0)
        self.times = None if times is None else int(times)
        self.opts = opts
        self.skipped = 0
        self.fired = 0
        self._state = None

    def matches(self, host, method, path):
        if self.host and self.host != host:
            return False
        if self.method and self.method != method:
            return False
        return self._rx is None or self._rx.search(path) is not None

    @property
    def exhausted(self):
        return self.times is not None and self.fired >= self.times

    def cancel(self):
        if self._state is not None:
            self._state.remove_fault(self)

    def to_dict(self):
        return {"id": self.id, "kind": self.kind, "path": self.path, "method": self.method, "host": self.host,
                "after": self.after, "times": self.times, "skipped": self.skipped, "fired": self.fired,
                "opts": {k: v for k, v in self.opts.items() if isinstance(v, (str, int, float, bool, type(None),
                                                                              list, dict))}}

    def __repr__(self):
        return "<FaultSpec #%d %s path=%r fired=%d/%s>" % (self.id, self.kind, self.path, self.fired, self.times)
