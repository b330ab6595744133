"""Route: the leaderboard of a dataset (its evaluations ranked by a metric, with intervals)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from tunix_rt.api.deps import Session
from tunix_rt.evaluations import leaderboard

router = APIRouter(prefix="/api", tags=["evaluations"])


class LeaderboardEntry(BaseModel):
    rank: int
    evaluation_id: uuid.UUID
    run_id: uuid.UUID | None
    run_name: str | None
    model: str | None
    step: int | None
    split: str
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    hyperparameters: dict[str, Any]
    wall_s: float | None
    created_at: datetime


class Leaderboard(BaseModel):
    dataset_key: str
    metric: str
    data: list[LeaderboardEntry]


@router.get("/leaderboard", response_model=Leaderboard)
async def read_leaderboard(
    session: Session,
    dataset_key: str = Query(min_length=1, max_length=300, pattern=r"^[^\x00]+$"),
    metric: Literal["exact_match", "format_ok"] = Query("exact_match"),
    limit: int = Query(100, ge=1, le=500),
) -> Leaderboard:
    """Completed evaluations on the dataset, best first, with 95 % Wilson intervals."""
    entries = await leaderboard.read_leaderboard(session, dataset_key, metric, limit)
    return Leaderboard(
        dataset_key=dataset_key,
        metric=metric,
        data=[
            LeaderboardEntry(rank=i + 1, metric=metric, **vars(entry))
            for i, entry in enumerate(entries)
        ],
    )
