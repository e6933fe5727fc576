"""vulntrail's own errors. Each carries the HTTP status it maps to in api.errors."""

from __future__ import annotations


class VulntrailError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadRequest(VulntrailError):
    status_code = 400


class NotAuthenticated(VulntrailError):
    status_code = 401


class PermissionDenied(VulntrailError):
    status_code = 403


class NotFound(VulntrailError):
    status_code = 404


class Conflict(VulntrailError):
    status_code = 409


class PayloadTooLarge(VulntrailError):
    status_code = 413


class TooManyRequests(VulntrailError):
    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(VulntrailError):
    """The database is busy or unreachable; the client should retry."""

    status_code = 503

    def __init__(self, message: str, *, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after
