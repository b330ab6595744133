"""Dataset build requests and the manifest the API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tunix_rt.traces.schema import META_KEY_MAX_CHARS, Text, check_query_time

# Bounded quantifiers (not just max_length) so schema-driven generators need no filtering.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Strategy = Literal["latest", "random", "top_score"]
Criteria = Literal["baseline", "answer_match"]
BUILD_KEY = "_build"  # build options inside the stored filters JSON (no column of their own)


class DatasetFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Text | None = Field(default=None, max_length=META_KEY_MAX_CHARS)
    task: Text | None = Field(default=None, max_length=META_KEY_MAX_CHARS)
    min_score: float | None = Field(default=None, ge=-1e9, le=1e9)
    criteria: Criteria = "baseline"
    created_after: datetime | None = None
    created_before: datetime | None = None
    # Traces a run's evaluation stored (source "run:<id>") are model outputs, not training
    # data: left out unless asked for here or named by `source`.
    include_model_outputs: bool = False

    @field_validator("created_after", "created_before")
    @classmethod
    def _sane_year(cls, value: datetime | None) -> datetime | None:
        return check_query_time(value)


class SelectionRequest(BaseModel):
    """What to select; shared by build and preview."""

    model_config = ConfigDict(extra="forbid")

    filters: DatasetFilters = Field(default_factory=DatasetFilters)
    limit: int | None = Field(default=None, ge=1, le=1_000_000)
    selection_strategy: Strategy = "latest"
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    holdout_fraction: float = Field(default=0.0, ge=0.0, le=0.5)
    # Keep one trace per normalised prompt (the first in strategy order; for `random` the
    # first in content order): repeated prompts only reweight training.
    dedupe_prompts: bool = True


class BuildRequest(SelectionRequest):
    dataset_name: str = Field(min_length=1, max_length=128, pattern=NAME_PATTERN)
    dataset_version: str = Field(min_length=1, max_length=64, pattern=VERSION_PATTERN)


class PreviewRequest(SelectionRequest):
    dataset_name: str | None = Field(default=None, max_length=128)
    dataset_version: str | None = Field(default=None, max_length=64)


class PreviewResult(BaseModel):
    trace_count: int


class BuildOptions(BaseModel):
    """Build options and outcomes kept in the dataset's `filters` JSON under BUILD_KEY."""

    dedupe_prompts: bool
    duplicates_dropped: int


class Manifest(BaseModel):
    dataset_key: str
    name: str
    version: str
    filters: dict[str, Any]
    selection_strategy: str
    seed: int | None
    limit: int | None
    holdout_fraction: float
    trace_count: int
    train_count: int
    holdout_count: int
    content_hash: str
    created_at: datetime
    dedupe_prompts: bool | None = Field(
        default=None, description="null for datasets built before the option existed"
    )
    duplicates_dropped: int | None = Field(
        default=None, description="matching traces left out because their prompt repeated"
    )


def dataset_key(name: str, version: str) -> str:
    return f"{name}-{version}"


def stored_filters(filters: DatasetFilters, options: BuildOptions) -> dict[str, Any]:
    return {**filters.model_dump(mode="json"), BUILD_KEY: options.model_dump(mode="json")}


def split_stored_filters(stored: dict[str, Any]) -> tuple[dict[str, Any], BuildOptions | None]:
    """(the filters as requested, the build options) of a stored `filters` value."""
    filters = {k: v for k, v in stored.items() if k != BUILD_KEY}
    raw = stored.get(BUILD_KEY)
    return filters, BuildOptions.model_validate(raw) if isinstance(raw, dict) else None
