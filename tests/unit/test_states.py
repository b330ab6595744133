"""The transition table: every allowed and every refused transition."""

from __future__ import annotations

import itertools

import pytest

from tunix_rt import errors
from tunix_rt.runs import states

ALLOWED = {
    ("pending", "running"),
    ("pending", "cancelled"),
    ("running", "completed"),
    ("running", "failed"),
    ("running", "timeout"),
    ("running", "cancel_requested"),
    ("running", "pending"),
    ("cancel_requested", "cancelled"),
    ("cancel_requested", "completed"),
    ("cancel_requested", "failed"),
}
ALL_PAIRS = list(itertools.product(states.STATUSES, states.STATUSES))


@pytest.mark.parametrize(("src", "dst"), sorted(ALLOWED))
def test_allowed_transition_passes(src: str, dst: str) -> None:
    states.check_transition(src, dst)
    assert states.is_allowed(src, dst)


@pytest.mark.parametrize(("src", "dst"), [p for p in ALL_PAIRS if p not in ALLOWED])
def test_refused_transition_raises(src: str, dst: str) -> None:
    assert not states.is_allowed(src, dst)
    with pytest.raises(errors.InvalidTransition):
        states.check_transition(src, dst)


def test_terminal_statuses_have_no_exit() -> None:
    assert {"completed", "failed", "cancelled", "timeout"} == states.TERMINAL
    for status in states.TERMINAL:
        assert not states.TRANSITIONS[status]


def test_unknown_status_is_refused() -> None:
    with pytest.raises(errors.InvalidTransition, match="unknown"):
        states.check_transition("paused", "running")
    with pytest.raises(errors.InvalidTransition, match="unknown"):
        states.check_transition("running", "exploded")


def test_sources_of_matches_table() -> None:
    assert states.sources_of("cancelled") == {"pending", "cancel_requested"}
    assert states.sources_of("pending") == {"running"}
    assert states.sources_of("completed") == {"running", "cancel_requested"}
