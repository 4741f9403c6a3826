"""Domain errors that the API turns into problem+json; the domain knows no HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base of errors the domain raises on purpose; `code` is a stable slug for the problem type."""

    code = "domain-error"

    def __init__(self, message: str, *, errors: dict[str, list[str]] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        if code:
            self.code = code


class InvalidInput(DomainError):
    """Raised when input is well-formed but breaks a domain rule (names the offending fields)."""

    code = "invalid-input"


class NotFound(DomainError):
    """Raised when the thing asked for does not exist (or is not visible to the caller)."""

    code = "not-found"


class Conflict(DomainError):
    """Raised when the request clashes with current state (a transition not allowed, a duplicate)."""

    code = "conflict"


class PermissionDenied(DomainError):
    """Raised when the caller may not do this."""

    code = "forbidden"
