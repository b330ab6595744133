"""The domain error hierarchy. The API maps these to HTTP codes in one place (api/errors.py)."""

from __future__ import annotations

from typing import Any


class TunixRtError(Exception):
    """Base of every error tunix-rt raises on purpose. `message` is safe to show a user."""

    status_code = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(TunixRtError):
    """A setting is invalid; raised at start."""

    status_code = 500


class NotFound(TunixRtError):
    status_code = 404


class Conflict(TunixRtError):
    status_code = 409


class InvalidTransition(Conflict):
    """A run status change was refused by the state machine or lost a compare-and-set race."""


class LeaseLost(Conflict):
    """A write for a run attempt was refused: the attempt no longer owns the run (fenced)."""


class ValidationFailed(TunixRtError):
    """Input passed type checks but is semantically wrong (empty selection, bad path, ...)."""

    status_code = 422


class PayloadTooLarge(TunixRtError):
    status_code = 413


class Unauthorized(TunixRtError):
    status_code = 401


class Unavailable(TunixRtError):
    """The database cannot serve the request now: unreachable, a connection lost mid-call,
    a deadline passed, or (SQLite) the write lock held too long. Nothing of the failed
    transaction was stored; the same request can be retried after `retry_after_s`."""

    status_code = 503

    def __init__(self, message: str, *, retry_after_s: int = 5, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after_s = retry_after_s


class TrainingUnavailable(TunixRtError):
    """The training stack (the `train` extra) is not installed."""

    status_code = 503
