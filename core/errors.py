"""Errors that carry an HTTP status, a stable ``error_id`` and details.

Services raise these; the API turns them into JSON. ``error_id`` values are part of the API
contract: never rename one.
"""

from __future__ import annotations

from typing import Any


class SiagaError(Exception):
    status_code = 400
    error_id = "bad-request"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(SiagaError):
    status_code = 404
    error_id = "not-found"


class Conflict(SiagaError):
    status_code = 409
    error_id = "conflict"


class InvalidTransition(SiagaError):
    status_code = 409
    error_id = "invalid-transition"


class ValidationFailed(SiagaError):
    status_code = 422
    error_id = "validation-failed"


class Unauthenticated(SiagaError):
    status_code = 401
    error_id = "unauthenticated"


class Forbidden(SiagaError):
    status_code = 403
    error_id = "forbidden"


class Unavailable(SiagaError):
    status_code = 503
    error_id = "unavailable"
