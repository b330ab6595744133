"""Sweep shapes on the wire: the request a user submits and the records the API returns."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tunix_rt.runs.schema import LABEL_FIELDS, RunName, RunRequest

MAX_TRIALS = 1000
MAX_PARALLEL = 64
MAX_PARAMS = 16
MAX_CHOICES = 100
MAX_GRID_POINTS = 10_000
# Run request fields a sweep may not search over: what the run is, not how it trains.
NOT_SEARCHABLE = frozenset(
    {
        "dataset_key",
        "model_id",
        "model_path",
        "dry_run",
        "algorithm",
        "init_from",
        "grpo",
        "mesh",  # an object: a sweep's choices are scalars
        *LABEL_FIELDS,
    }
)
SEARCHABLE = tuple(sorted(set(RunRequest.model_fields) - NOT_SEARCHABLE))

Choice = float | int | str | bool
SweepStatus = Literal["running", "completed", "cancelled", "failed"]
TrialState = Literal["pending", "running", "complete", "pruned", "failed", "cancelled"]


class ParamSpec(BaseModel):
    """One searched parameter. float/int: low..high (log scale, step); categorical: choices."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(default=None, gt=0)
    choices: list[Choice] | None = Field(default=None, min_length=1, max_length=MAX_CHOICES)

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs choices")
            if self.low is not None or self.high is not None or self.step is not None or self.log:
                raise ValueError(
                    "a categorical parameter takes choices only (no low/high/step/log)"
                )
            if len({repr(c) for c in self.choices}) != len(self.choices):
                raise ValueError("choices must not repeat")
            return self
        if self.choices is not None:
            raise ValueError(f"a {self.type} parameter takes low/high, not choices")
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs low and high")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ValueError("low must be a finite number not above high")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale parameter needs low > 0")
        if self.log and self.step is not None:
            raise ValueError("give log or step, not both")
        if self.type == "int":
            for name in ("low", "high", "step"):
                value = getattr(self, name)
                if value is not None and value != int(value):
                    raise ValueError(f"an int parameter needs an integer {name}")
        return self

    def grid_values(self) -> list[Choice] | None:
        """The values a grid search tries; None when the range is continuous."""
        if self.type == "categorical":
            return list(self.choices or [])
        assert self.low is not None and self.high is not None
        if self.type == "int":
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))
        if self.step is None:
            return None
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]

    def corners(self) -> list[Choice]:
        """Values that, checked one by one against RunRequest, prove every trial is valid."""
        if self.type == "categorical":
            return list(self.choices or [])
        assert self.low is not None and self.high is not None
        if self.type == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]


class Objective(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: Literal["exact_match", "format_ok"] = "exact_match"
    direction: Literal["maximize", "minimize"] = "maximize"


class SweepRequest(BaseModel):
    """POST /api/sweeps: a search space over run request fields, run as trials on the queue."""

    model_config = ConfigDict(extra="forbid")

    dataset_key: str = Field(min_length=1, max_length=300)
    base: dict[str, Any] = Field(
        default_factory=dict, description="Run request fields every trial shares."
    )
    space: dict[str, ParamSpec] = Field(min_length=1, max_length=MAX_PARAMS)
    objective: Objective = Field(default_factory=Objective)
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    pruner: Literal["none", "median", "hyperband"] = "none"
    n_trials: int = Field(default=10, ge=1, le=MAX_TRIALS)
    max_parallel: int = Field(default=2, ge=1, le=MAX_PARALLEL)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    name: RunName | None = None

    @model_validator(mode="after")
    def _check(self) -> SweepRequest:
        if "\x00" in self.dataset_key:
            raise ValueError("dataset_key must not contain NUL characters")
        unknown = sorted(set(self.space) - set(SEARCHABLE))
        if unknown:
            raise ValueError(
                f"cannot search over {', '.join(unknown)}; searchable: {', '.join(SEARCHABLE)}"
            )
        if "dataset_key" in self.base:
            raise ValueError("give dataset_key at the top level, not in base")
        labels = sorted(set(self.base) & LABEL_FIELDS)
        if labels:
            raise ValueError(
                f"base must not set {', '.join(labels)}: trials are named by the sweep"
            )
        first = self.trial_request({})
        for name, param in self.space.items():
            for value in param.corners():
                self.trial_request({name: value})
        if self.pruner != "none" and not first.eval_every_steps:
            raise ValueError(
                f"pruner {self.pruner} needs base.eval_every_steps (the mid-training evaluations "
                "it prunes on)"
            )
        if self.sampler == "grid":
            size = 1
            for name, param in self.space.items():
                values = param.grid_values()
                if values is None:
                    raise ValueError(
                        f"grid search needs discrete values: give {name} a step or choices"
                    )
                size *= len(values)
                if size > MAX_GRID_POINTS:
                    raise ValueError(f"the grid has more than {MAX_GRID_POINTS} points")
            self.n_trials = min(self.n_trials, size)
        return self

    def trial_request(
        self, params: dict[str, Any], *, name: str | None = None, tags: list[str] | None = None
    ) -> RunRequest:
        """The run request of a trial with `params`; ValueError (a clear message) if invalid."""
        data = {**self.base, **params, "dataset_key": self.dataset_key}
        if name is not None:
            data["name"] = name
        if tags:
            data["tags"] = tags
        try:
            return RunRequest.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'request'}: {err['msg']}"
                for err in exc.errors()
            )
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
            where = f" with {shown}" if shown else ""
            raise ValueError(f"trial run request{where} is invalid: {problems}") from None


class SweepCreated(BaseModel):
    sweep_id: uuid.UUID
    status: str


class TrialOut(BaseModel):
    number: int
    run_id: uuid.UUID | None
    params: dict[str, Any]
    state: TrialState
    value: float | None
    intermediate: list[tuple[int, float]]
    run_status: str | None
    pruned_step: int | None = None
    best_step: int | None = None
    duration_s: float | None = None
    error: str | None = None


class SweepRowOut(BaseModel):
    sweep_id: uuid.UUID
    name: str | None
    status: str
    dataset_key: str
    sampler: str
    pruner: str
    objective: Objective
    n_trials: int
    max_parallel: int
    counts: dict[str, int]
    best_value: float | None
    created_at: datetime
    finished_at: datetime | None
    error: str | None


class SweepOut(SweepRowOut):
    seed: int
    space: dict[str, ParamSpec]
    base: dict[str, Any]
    trials: list[TrialOut]
    best_trial: TrialOut | None
    updated_at: datetime


class SweepList(BaseModel):
    sweeps: list[SweepRowOut]


class ImportanceOut(BaseModel):
    sweep_id: uuid.UUID
    available: bool
    importances: dict[str, float]
    completed_trials: int
    message: str | None = None


class PinBestOut(BaseModel):
    sweep_id: uuid.UUID
    run_id: uuid.UUID
    trial_number: int
    step: int
    reason: str
