"""The leaderboard of a dataset: its completed evaluations ranked by one metric, best first.

Each entry carries the 95 % Wilson interval of the metric (a proportion over n examples), so a
reader sees at once whether the top two are distinguishable; ties on the value are broken by
the interval's lower bound (more examples, more certainty), then by age (older first).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.evaluations import stats

METRICS = ("exact_match", "format_ok")
KEY_HYPERPARAMETERS = (
    "algorithm",  # shown for the non-default one only (grpo): an SFT row says nothing more
    "learning_rate",
    "batch_size",
    "max_steps",
    "num_epochs",
    "lora_rank",
    "seed",
)
MAX_ENTRIES = 500
DEFAULT_ALGORITHM = "sft"


@dataclass(frozen=True)
class Entry:
    evaluation_id: uuid.UUID
    run_id: uuid.UUID | None
    run_name: str | None
    model: str | None
    step: int | None
    split: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    hyperparameters: dict[str, Any]
    wall_s: float | None
    created_at: datetime


async def read_leaderboard(
    session: AsyncSession, dataset_key: str, metric: str = "exact_match", limit: int = 100
) -> list[Entry]:
    if metric not in METRICS:
        raise errors.ValidationFailed(f"metric: must be one of {', '.join(METRICS)}")
    E, R = models.Evaluation, models.Run
    column = getattr(E, metric)
    rows = (
        await session.execute(
            select(E, R.model_id, R.name, R.request, R.started_at, R.finished_at)
            .outerjoin(R, R.id == E.run_id)
            .where(E.dataset_key == dataset_key, E.status == "completed", column.is_not(None))
            # The best MAX_ENTRIES by value; ties are then ordered by interval below.
            .order_by(column.desc(), E.created_at)
            .limit(MAX_ENTRIES)
        )
    ).all()
    entries = [
        _entry(e, model, name, request, started, finished, metric)
        for e, model, name, request, started, finished in rows
    ]
    entries.sort(key=lambda x: (-x.value, -x.ci_low, x.created_at))
    return entries[:limit]


def _entry(
    evaluation: models.Evaluation,
    model: str | None,
    run_name: str | None,
    request: dict[str, Any] | None,
    started: datetime | None,
    finished: datetime | None,
    metric: str,
) -> Entry:
    value = float(getattr(evaluation, metric))
    n = int(evaluation.n)
    low, high = stats.wilson_interval(round(value * n), n)
    req = request or {}
    wall_s = evaluation.wall_s
    if started is not None and finished is not None:
        wall_s = (finished - started).total_seconds()
    return Entry(
        evaluation_id=evaluation.id,
        run_id=evaluation.run_id,
        run_name=run_name,
        model=model,
        step=evaluation.step,
        split=evaluation.split,
        value=value,
        ci_low=low,
        ci_high=high,
        n=n,
        hyperparameters={
            k: req[k] for k in KEY_HYPERPARAMETERS if req.get(k) not in (None, DEFAULT_ALGORITHM)
        },
        wall_s=wall_s,
        created_at=evaluation.created_at,
    )
