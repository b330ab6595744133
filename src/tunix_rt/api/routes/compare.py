"""Route: paired comparison of two evaluations (flips, McNemar's exact test, paired interval)."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from tunix_rt.api.deps import Session
from tunix_rt.evaluations import compare

router = APIRouter(prefix="/api/compare", tags=["evaluations"])


class ComparedSide(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    evaluation_id: uuid.UUID
    run_id: uuid.UUID | None
    step: int | None
    dataset_key: str
    split: str
    scorer_version: str
    n_evaluated: int
    correct: int
    value: float
    exact_match: float
    format_ok: float


class Flips(BaseModel):
    right_to_wrong: int
    wrong_to_right: int


class FlippedExample(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    example_key: str
    direction: Literal["right_to_wrong", "wrong_to_right"]
    task: str | None
    prompt: str
    expected: str
    baseline_generated: str
    baseline_extracted: str | None
    candidate_generated: str
    candidate_extracted: str | None


class EvaluationComparison(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    metric: Literal["exact_match", "format_ok"]
    n_paired: int
    baseline: ComparedSide
    candidate: ComparedSide
    diff: float
    diff_ci_low: float
    diff_ci_high: float
    flips: Flips
    mcnemar_p: float
    examples: list[FlippedExample]
    examples_truncated: bool


@router.get("/evaluations", response_model=EvaluationComparison)
async def compare_evaluations(
    session: Session,
    baseline: uuid.UUID = Query(description="evaluation id of the baseline"),
    candidate: uuid.UUID = Query(description="evaluation id of the candidate"),
    metric: Literal["exact_match", "format_ok"] = Query("exact_match"),
) -> EvaluationComparison:
    """The two completed evaluations on the examples both evaluated: the metric on the paired
    set, diff = candidate - baseline with its 95 % Newcombe paired interval, the flips, the
    exact McNemar p-value and the flipped examples (at most 200). 422 when nothing pairs,
    an evaluation is not completed or the scorers differ; 404 for an unknown id."""
    comparison = await compare.compare_evaluations(session, baseline, candidate, metric)
    return EvaluationComparison.model_validate(comparison)
