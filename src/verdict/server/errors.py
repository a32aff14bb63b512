"""Domain errors: what services raise. Only ``problems.py`` turns them into HTTP.

Each error carries a human sentence and, for bad input, the field it concerns, so the
API can answer with a problem document that names the field and the reason.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DomainError",
    "IllegalTransitionError",
    "InvalidInputError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "StaleVersionError",
    "VersionRequiredError",
]


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    title = "Error"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFoundError(DomainError):
    title = "Not found"


class ConflictError(DomainError):
    """The request clashes with what is stored (a duplicate key, a resource in use)."""

    title = "Conflict"


class IllegalTransitionError(ConflictError):
    """A lifecycle action that the resource's current state does not allow."""

    title = "Illegal state transition"


class InvalidInputError(DomainError):
    """Well-formed input that breaks a rule (an invalid condition, weights not summing to 1)."""

    title = "Invalid input"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        errors: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(detail, field=field)
        self.errors = errors or ([(field, detail)] if field else [])


class PayloadTooLargeError(DomainError):
    """A request larger than the route accepts (too many bytes or too many items)."""

    title = "Payload too large"


class StaleVersionError(DomainError):
    """If-Match named a version that is no longer current."""

    title = "Precondition failed"


class VersionRequiredError(DomainError):
    """An edit arrived without If-Match."""

    title = "Precondition required"


class AuthenticationError(DomainError):
    title = "Authentication required"


class PermissionDeniedError(DomainError):
    title = "Forbidden"
