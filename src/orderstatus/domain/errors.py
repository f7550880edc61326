"""Errors the services raise; the web layer maps each kind to one HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """A request that the rules refuse. ``code`` is stable for API clients."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class Malformed(DomainError):
    """A body that is not what its sender's format says (a webhook's, say)."""

    status_code = 400
    code = "malformed"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Invalid(DomainError):
    status_code = 422
    code = "invalid"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"
