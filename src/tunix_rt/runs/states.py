"""The run state machine: statuses and the only transition table.

Every status change goes through `queue.transition_run`, which consults `check_transition`
and then does a compare-and-set on the row; races (cancel vs finish, two reapers) resolve
by the loser updating zero rows.
"""

from __future__ import annotations

from typing import Final

from tunix_rt import errors

PENDING: Final = "pending"
RUNNING: Final = "running"
CANCEL_REQUESTED: Final = "cancel_requested"
COMPLETED: Final = "completed"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
TIMEOUT: Final = "timeout"

STATUSES: Final = (PENDING, RUNNING, CANCEL_REQUESTED, COMPLETED, FAILED, CANCELLED, TIMEOUT)
TERMINAL: Final = frozenset({COMPLETED, FAILED, CANCELLED, TIMEOUT})
# Statuses in which a worker holds the run (a lease exists and the child may be alive).
ACTIVE: Final = frozenset({RUNNING, CANCEL_REQUESTED})
# A retry may be created from these.
RETRYABLE: Final = frozenset({FAILED, CANCELLED, TIMEOUT})

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    PENDING: frozenset({RUNNING, CANCELLED}),
    # running -> pending: the lease was lost (or the worker drained) and attempts remain.
    RUNNING: frozenset({COMPLETED, FAILED, TIMEOUT, CANCEL_REQUESTED, PENDING}),
    # A cancel may lose the race against the child finishing on its own: completed/failed win.
    CANCEL_REQUESTED: frozenset({CANCELLED, COMPLETED, FAILED}),
    COMPLETED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
    TIMEOUT: frozenset(),
}


def is_allowed(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def check_transition(from_status: str, to_status: str) -> None:
    """Raise InvalidTransition unless from_status -> to_status is in the table."""
    if from_status not in TRANSITIONS:
        raise errors.InvalidTransition(f"unknown run status {from_status!r}")
    if to_status not in TRANSITIONS:
        raise errors.InvalidTransition(f"unknown run status {to_status!r}")
    if not is_allowed(from_status, to_status):
        raise errors.InvalidTransition(
            f"a {from_status} run cannot become {to_status}",
            status=from_status,
        )


def sources_of(to_status: str) -> frozenset[str]:
    """Every status from which `to_status` may be reached."""
    return frozenset(src for src, targets in TRANSITIONS.items() if to_status in targets)
