"""The trace payload as clients send it, and the shapes the traces API returns.

Every string that reaches the database is checked for NUL characters and lone surrogates
(PostgreSQL text/JSONB and SQLite's UTF-8 encoder reject them), and `meta` must be plain
JSON without NaN/Infinity: bad input must be a 422 here, never a driver error later.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

META_KEY_MAX_CHARS = 255  # meta.source and meta.task are denormalised into String(255) columns
META_MAX_DEPTH = 32
PREVIEW_CHARS = 120


def check_text(value: str) -> str:
    """Reject characters no backend can store: NUL and unpaired UTF-16 surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode (unpaired surrogate)") from exc
    return value


def check_json_value(value: Any, depth: int = 0) -> None:
    """Walk a JSON value: strings storable, numbers finite, nesting bounded."""
    if depth > META_MAX_DEPTH:
        raise ValueError(f"nested deeper than {META_MAX_DEPTH} levels")
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite (no NaN or Infinity)")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(str(key))
            check_json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json_value(item, depth + 1)


Text = Annotated[str, AfterValidator(check_text)]


class TraceStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    i: int = Field(ge=0, le=2**31 - 1)
    type: Text = Field(min_length=1, max_length=64)
    content: Text = Field(min_length=1, max_length=20_000)


class TracePayload(BaseModel):
    """A reasoning trace: prompt, numbered steps, final answer and free-form meta."""

    model_config = ConfigDict(extra="forbid")

    trace_version: Text = Field(min_length=1, max_length=64)
    prompt: Text = Field(min_length=1, max_length=50_000)
    final_answer: Text = Field(min_length=1, max_length=50_000)
    steps: list[TraceStep] = Field(min_length=1, max_length=1000)
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("steps")
    @classmethod
    def _unique_step_indexes(cls, steps: list[TraceStep]) -> list[TraceStep]:
        seen: set[int] = set()
        for step in steps:
            if step.i in seen:
                raise ValueError(f"duplicate step index i={step.i}")
            seen.add(step.i)
        return steps

    @field_validator("meta")
    @classmethod
    def _plain_meta(cls, meta: dict[str, Any]) -> dict[str, Any]:
        check_json_value(meta)
        for key in ("source", "task"):
            value = meta.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise ValueError(f"meta.{key} must be a string")
            if len(value) > META_KEY_MAX_CHARS:
                raise ValueError(f"meta.{key} must be at most {META_KEY_MAX_CHARS} characters")
        return meta


def check_query_time(value: datetime | None) -> datetime | None:
    """Extreme years overflow SQLite's date strings and asyncpg's timestamp codec."""
    if value is not None and not 1 <= value.year <= 9998:
        raise ValueError("year must be between 1 and 9998")
    return value


class Pagination(BaseModel):
    limit: int
    offset: int
    next_offset: int | None


class TraceCreated(BaseModel):
    id: uuid.UUID
    created_at: datetime
    trace_version: str


class BatchCreated(BaseModel):
    created: int
    ids: list[uuid.UUID]


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: Literal["high_card_duel", "addition", "multiplication"]
    count: int = Field(ge=1, le=100_000)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)


class GenerateResult(BaseModel):
    created: int
    task: str
    seed: int


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    criteria: Literal["baseline", "answer_match"] = "baseline"


class Score(BaseModel):
    id: uuid.UUID
    trace_id: uuid.UUID
    criteria: str
    score: float
    details: dict[str, Any]
    created_at: datetime


class TraceSummary(BaseModel):
    id: uuid.UUID
    created_at: datetime
    trace_version: str
    source: str | None
    task: str | None
    step_count: int
    prompt_preview: str
    final_answer_preview: str
    score: float | None


class Trace(BaseModel):
    id: uuid.UUID
    created_at: datetime
    trace_version: str
    payload: TracePayload
    scores: list[Score]


class StepDiff(BaseModel):
    index: int
    base: TraceStep | None
    other: TraceStep | None
    same: bool


class TraceDiff(BaseModel):
    first_divergent_step: int | None
    steps_compared: int
    final_answer_differs: bool
    steps: list[StepDiff]


class TraceComparison(BaseModel):
    base: Trace
    other: Trace
    diff: TraceDiff
