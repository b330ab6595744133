"""Trace scoring: pure criteria functions and the stored score rows."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db.models import TraceScore
from tunix_rt.traces import scorer, store
from tunix_rt.traces.schema import Score, StoredPayload, TracePayload

CRITERIA = ("baseline", "answer_match")
BASELINE_FULL_STEPS = 10
BASELINE_FULL_AVG_CHARS = 500
Payload = TracePayload | StoredPayload


def score_baseline(payload: Payload) -> tuple[float, dict[str, Any]]:
    step_count = len(payload.steps)
    avg_chars = sum(len(s.content) for s in payload.steps) / step_count if step_count else 0.0
    step_score = min(step_count / BASELINE_FULL_STEPS, 1.0) * 50
    length_score = min(avg_chars / BASELINE_FULL_AVG_CHARS, 1.0) * 50
    details = {
        "step_count": step_count,
        "avg_step_chars": avg_chars,
        "step_score": step_score,
        "length_score": length_score,
    }
    return step_score + length_score, details


def score_answer_match(payload: Payload) -> tuple[float, dict[str, Any]]:
    expected = payload.meta.get("expected_answer")
    if expected is None:
        raise errors.ValidationFailed(
            "answer_match needs meta.expected_answer, and this trace has none"
        )
    match = scorer.is_correct(payload.final_answer, expected)
    details = {
        "expected_answer": expected,
        "final_answer": payload.final_answer,
        "normalised_expected": scorer.normalise_answer(expected),
        "normalised_final_answer": scorer.normalise_answer(payload.final_answer),
        "match": match,
        "scorer_version": scorer.SCORER_VERSION,
    }
    return (100.0 if match else 0.0), details


def compute_score(criteria: str, payload: Payload) -> tuple[float, dict[str, Any]]:
    if criteria == "baseline":
        return score_baseline(payload)
    if criteria == "answer_match":
        return score_answer_match(payload)
    raise errors.ValidationFailed(
        f"unknown criteria {criteria!r}; choose one of {', '.join(CRITERIA)}"
    )


def score_of(row: TraceScore) -> Score:
    return Score(
        id=row.id,
        trace_id=row.trace_id,
        criteria=row.criteria,
        score=row.score,
        details=row.details,
        created_at=row.created_at,
    )


async def score_trace(session: AsyncSession, trace_id: uuid.UUID, criteria: str) -> Score:
    row = await store.read_trace_row(session, trace_id)
    value, details = compute_score(criteria, store.payload_of(row))
    score = TraceScore(trace_id=trace_id, criteria=criteria, score=value, details=details)
    session.add(score)
    await session.flush()
    return score_of(score)


async def list_scores(session: AsyncSession, trace_id: uuid.UUID) -> list[Score]:
    """Scores of one trace, newest first."""
    rows = await session.scalars(
        select(TraceScore)
        .where(TraceScore.trace_id == trace_id)
        .order_by(TraceScore.created_at.desc(), TraceScore.id.desc())
    )
    return [score_of(r) for r in rows]
