"""The trace payload as clients send it, and the shapes the traces API returns.

Every string that reaches the database is checked for NUL characters and lone surrogates
(PostgreSQL text/JSONB and SQLite's UTF-8 encoder reject them), and `meta` must be plain
JSON without NaN/Infinity: bad input must be a 422 here, never a driver error later.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from typing_extensions import TypedDict

META_KEY_MAX_CHARS = 255  # meta.source and meta.task are denormalised into String(255) columns
META_MAX_DEPTH = 32
PREVIEW_CHARS = 120
# meta.source of a trace stored from a run's evaluation: "run:<run id>" (a model output)
MODEL_OUTPUT_SOURCE_PREFIX = "run:"
STEP_INDEX_MAX = 2**31 - 1


def check_text(value: str) -> str:
    """Reject characters no backend can store: NUL and unpaired UTF-16 surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("must be valid Unicode (unpaired surrogate)") from exc
    return value


def check_optional_text(value: str | None) -> str | None:
    return None if value is None else check_text(value)


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


class PayloadProblem(ValueError):
    """A payload that passed type validation but cannot be stored; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.message = message


def check_meta(meta: dict[str, Any]) -> None:
    try:
        check_json_value(meta)
    except ValueError as exc:
        raise PayloadProblem("meta", str(exc)) from None
    for key in ("source", "task"):
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise PayloadProblem(f"meta.{key}", "must be a string")
        if len(value) > META_KEY_MAX_CHARS:
            raise PayloadProblem(f"meta.{key}", f"must be at most {META_KEY_MAX_CHARS} characters")


def check_payload(item: Mapping[str, Any]) -> None:
    """The checks types cannot express, on a type-valid payload dict: unique step indexes,
    storable text (checked over all strings joined: this runs for every trace of a bulk
    import), plain meta."""
    steps = item["steps"]
    if len({step["i"] for step in steps}) != len(steps):
        seen: set[int] = set()
        for step in steps:
            if step["i"] in seen:
                raise PayloadProblem("steps", f"duplicate step index i={step['i']}")
            seen.add(step["i"])
    check_meta(item.get("meta") or {})
    texts = [item["trace_version"], item["prompt"], item["final_answer"]]
    for step in steps:
        texts.append(step["type"])
        texts.append(step["content"])
    try:
        check_text("".join(texts))
    except ValueError:
        # Slow path, only for bad input: find the offending field.
        named = [(k, item[k]) for k in ("trace_version", "prompt", "final_answer")]
        for n, step in enumerate(steps):
            named += [(f"steps.{n}.type", step["type"]), (f"steps.{n}.content", step["content"])]
        for field, text in named:
            try:
                check_text(text)
            except ValueError as exc:
                raise PayloadProblem(field, str(exc)) from None
        raise


class TraceStepDict(TypedDict):
    """TraceStep as a TypedDict: validating into dicts is ~5x faster than into models."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    i: Annotated[int, Field(ge=0, le=STEP_INDEX_MAX)]
    type: Annotated[str, Field(min_length=1, max_length=64)]
    content: Annotated[str, Field(min_length=1, max_length=20_000)]


class TracePayloadDict(TypedDict):
    """TracePayload as a TypedDict, for bulk import; keep the two in step."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    trace_version: Annotated[str, Field(min_length=1, max_length=64)]
    prompt: Annotated[str, Field(min_length=1, max_length=50_000)]
    final_answer: Annotated[str, Field(min_length=1, max_length=50_000)]
    steps: Annotated[list[TraceStepDict], Field(min_length=1, max_length=1000)]
    meta: NotRequired[dict[str, Any]]


PAYLOAD_DICT_ADAPTER: TypeAdapter[TracePayloadDict] = TypeAdapter(TracePayloadDict)


def validate_payload_dict(item: Any) -> TracePayloadDict:
    """Validate one payload into a plain dict (meta defaulted to {}).

    Raises pydantic.ValidationError (type problems) or PayloadProblem (storability).
    """
    payload = PAYLOAD_DICT_ADAPTER.validate_python(item)
    payload.setdefault("meta", {})
    check_payload(payload)
    return payload


class TraceStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    i: int = Field(ge=0, le=STEP_INDEX_MAX)
    type: str = Field(min_length=1, max_length=64)
    content: str = Field(min_length=1, max_length=20_000)


class TracePayload(BaseModel):
    """A reasoning trace: prompt, numbered steps, final answer and free-form meta."""

    model_config = ConfigDict(extra="forbid")

    trace_version: str = Field(min_length=1, max_length=64)
    prompt: str = Field(min_length=1, max_length=50_000)
    final_answer: str = Field(min_length=1, max_length=50_000)
    steps: list[TraceStep] = Field(min_length=1, max_length=1000)
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _storable(self) -> TracePayload:
        check_payload(self.as_dict())
        return self

    def as_dict(self) -> dict[str, Any]:
        """Like model_dump(), cheaper: the payload as the plain dict the store writes."""
        return {
            "trace_version": self.trace_version,
            "prompt": self.prompt,
            "final_answer": self.final_answer,
            "steps": [{"i": s.i, "type": s.type, "content": s.content} for s in self.steps],
            "meta": self.meta,
        }


def model_output_source(run_id: uuid.UUID | str) -> str:
    return f"{MODEL_OUTPUT_SOURCE_PREFIX}{run_id}"


def check_query_time(value: datetime | None) -> datetime | None:
    """Extreme years overflow SQLite's date strings and asyncpg's timestamp codec.

    The range applies in UTC, where the database compares: 0001-01-01T00:00+05:00 is
    before year 1 and cannot even be converted (OverflowError in the bind).
    """
    if value is None:
        return None
    try:
        utc = value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not 1 <= utc.year <= 9998:
        raise ValueError("must lie between years 1 and 9998 in UTC")
    return value


class Pagination(BaseModel):
    limit: int
    offset: int
    next_offset: int | None


class StoredStep(BaseModel):
    """A step as returned: no input constraints, so any stored row can be served."""

    i: int
    type: str
    content: str


class StoredPayload(BaseModel):
    trace_version: str
    prompt: str
    final_answer: str
    steps: list[StoredStep]
    meta: dict[str, Any]


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
    payload: StoredPayload
    scores: list[Score]


class StepDiff(BaseModel):
    index: int
    base: StoredStep | None
    other: StoredStep | None
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
