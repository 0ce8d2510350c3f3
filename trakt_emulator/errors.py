"""Errors a read or a write raises; the HTTP layer turns each into trakt's status and body."""


class NotFound(Exception):
    pass


class VipOnly(Exception):
    pass


class BadRequest(Exception):
    pass


class LimitExceeded(Exception):
    """Account limit exceeded (HTTP 420)."""

    def __init__(self, message: str, limit: int):
        super().__init__(message)
        self.limit = limit
