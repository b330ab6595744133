"""Evaluation shapes on the wire (the UI's types are generated from these via OpenAPI)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tunix_rt.db import models

MAX_EVAL_EXAMPLES = 100_000


class ClassSummary(BaseModel):
    n: int
    exact_match: float | None
    format_ok: float | None
    ci_low: float | None
    ci_high: float | None


class EvaluationSummary(BaseModel):
    exact_match: float | None
    format_ok: float | None
    n: int
    ci_low: float | None  # Wilson 95 % interval of exact_match
    ci_high: float | None
    by_expected_answer: dict[str, ClassSummary] | None = None


class EvaluationRequest(BaseModel):
    """POST /api/evaluations: evaluate a checkpoint of a run on a dataset split."""

    model_config = ConfigDict(extra="forbid")

    run_id: uuid.UUID
    checkpoint: Literal["latest", "best"] | Annotated[int, Field(ge=0)] = Field(
        default="latest",
        description='"latest" (the newest committed checkpoint now), "best", or a step.',
    )
    dataset_key: str | None = Field(
        default=None, min_length=1, max_length=300, description="Default: the run's dataset."
    )
    split: Literal["holdout", "train", "all"] = "holdout"
    max_examples: int = Field(default=200, ge=1, le=MAX_EVAL_EXAMPLES)
    max_new_tokens: int | None = Field(
        default=None, ge=1, le=4096, description="Default: the run's eval_max_new_tokens."
    )
    priority: int = Field(default=0, ge=-1000, le=1000)
    timeout_s: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)


class EvaluationSubmitted(BaseModel):
    evaluation_id: uuid.UUID
    status: str
    job_id: uuid.UUID
    run_id: uuid.UUID
    step: int


class EvaluationOut(BaseModel):
    evaluation_id: uuid.UUID
    status: str
    run_id: uuid.UUID | None
    job_id: uuid.UUID | None = None
    step: int | None
    checkpoint: str | None
    dataset_key: str
    split: str
    scorer_version: str
    wall_s: float | None
    created_at: datetime
    finished_at: datetime | None
    summary: EvaluationSummary

    @classmethod
    def of(cls, row: models.Evaluation, status: str | None = None) -> EvaluationOut:
        """`status`: the effective status (a pending record's job may have failed)."""
        stored: dict[str, Any] = row.summary or {}
        return cls(
            evaluation_id=row.id,
            status=status or row.status,
            run_id=row.run_id,
            job_id=row.job_id,
            step=row.step,
            checkpoint=row.checkpoint,
            dataset_key=row.dataset_key,
            split=row.split,
            scorer_version=row.scorer_version,
            wall_s=row.wall_s,
            created_at=row.created_at,
            finished_at=row.finished_at,
            summary=EvaluationSummary(
                exact_match=row.exact_match,
                format_ok=row.format_ok,
                n=row.n,
                ci_low=stored.get("ci_low"),
                ci_high=stored.get("ci_high"),
                by_expected_answer=stored.get("by_expected_answer"),
            ),
        )


class EvaluationExampleOut(BaseModel):
    position: int
    example_key: str
    prompt: str
    expected: str
    generated: str
    extracted: str | None
    correct: bool
    format_ok: bool
    task: str | None
    trace_id: str | None
    tokens: int | None
    latency_ms: float | None

    @classmethod
    def of(cls, row: models.EvaluationExample) -> EvaluationExampleOut:
        return cls(
            position=row.position,
            example_key=row.example_key,
            prompt=row.prompt,
            expected=row.expected,
            generated=row.generated,
            extracted=row.extracted,
            correct=row.correct,
            format_ok=row.format_ok,
            task=row.task,
            trace_id=row.trace_id,
            tokens=row.tokens,
            latency_ms=row.latency_ms,
        )


class EvaluationList(BaseModel):
    data: list[EvaluationOut]
    total: int
    next_offset: int | None


class EvaluationExampleList(BaseModel):
    data: list[EvaluationExampleOut]
    total: int
    next_offset: int | None
