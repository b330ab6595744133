"""Scoring criteria, step diffs and payload validation (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tunix_rt import errors
from tunix_rt.traces import compare, scoring
from tunix_rt.traces.schema import StoredStep, TracePayload, TraceStep


def payload(steps: list[str], final_answer: str = "5", **meta: Any) -> TracePayload:
    return TracePayload(
        trace_version="1",
        prompt="p",
        final_answer=final_answer,
        steps=[TraceStep(i=i, type="reasoning", content=c) for i, c in enumerate(steps)],
        meta=meta,
    )


def test_baseline_formula() -> None:
    score, details = scoring.score_baseline(payload(["x" * 100] * 4))
    assert details["step_score"] == pytest.approx(20.0)  # 4/10 * 50
    assert details["length_score"] == pytest.approx(10.0)  # 100/500 * 50
    assert score == pytest.approx(30.0)
    full, _ = scoring.score_baseline(payload(["y" * 600] * 12))
    assert full == 100.0


@pytest.mark.parametrize(
    ("expected", "answer", "score"),
    [
        ("5", "5", 100.0),
        ("B", " b. ", 100.0),
        ("tie", "Tie", 100.0),
        ("42", "24", 0.0),
        (7, "7", 100.0),
    ],
)
def test_answer_match_normalises(expected: Any, answer: str, score: float) -> None:
    got, details = scoring.score_answer_match(payload(["s"], answer, expected_answer=expected))
    assert got == score
    assert details["match"] is (score == 100.0)


def test_answer_match_needs_expected_answer() -> None:
    with pytest.raises(errors.ValidationFailed, match="expected_answer"):
        scoring.compute_score("answer_match", payload(["s"]))
    with pytest.raises(errors.ValidationFailed, match="unknown criteria"):
        scoring.compute_score("vibes", payload(["s"]))


def test_diff_aligns_steps_by_order_of_i() -> None:
    base = [StoredStep(i=1, type="r", content="b"), StoredStep(i=0, type="r", content="a")]
    other = [StoredStep(i=0, type="r", content="a"), StoredStep(i=5, type="r", content="c")]
    diff = compare.diff_steps(base, other)
    assert [d.same for d in diff] == [True, False]
    assert diff[1].base is not None and diff[1].base.content == "b"


@pytest.mark.parametrize(
    "bad",
    [
        {"meta": {"x": float("nan")}},
        {"meta": {"source": 3}},
        {"prompt": "a\x00"},
        {"final_answer": "\ud800"},
        {"steps": [{"i": 0, "type": "r", "content": "a"}, {"i": 0, "type": "r", "content": "b"}]},
        {"unknown": 1},
    ],
)
def test_payload_rejects_unstorable_input(bad: dict[str, Any]) -> None:
    base = {"trace_version": "1", "prompt": "p", "final_answer": "a",
            "steps": [{"i": 0, "type": "r", "content": "c"}], "meta": {}}  # fmt: skip
    with pytest.raises(ValidationError):
        TracePayload.model_validate({**base, **bad})
