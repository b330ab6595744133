"""Routes: a GRPO run's rollouts by step and filter, and chosen ones stored as traces."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from tunix_rt.api.deps import Session
from tunix_rt.runs import rollout_views

router = APIRouter(prefix="/api/tunix/runs", tags=["rollouts"])


@router.get(
    "/{run_id}/rollouts",
    response_model=rollout_views.RolloutPage,
    responses={404: {"description": "Unknown run, or no rollouts at that step"}},
)
async def list_rollouts(
    run_id: uuid.UUID,
    session: Session,
    step: int | None = Query(
        None, ge=0, le=rollout_views.MAX_STEP, description="Default: the latest step."
    ),
    filter_name: rollout_views.RolloutFilter = Query("all", alias="filter"),
    limit: int = Query(rollout_views.DEFAULT_LIMIT, ge=1, le=rollout_views.MAX_LIMIT),
    offset: int = Query(0, ge=0, le=rollout_views.MAX_OFFSET),
) -> rollout_views.RolloutPage:
    """The sampled completions of one step with their rewards and advantages; `steps` lists
    every step that has some. format_right_answer_wrong: well-formed but wrong answers."""
    return await rollout_views.list_rollouts(
        session, run_id, step=step, filter_name=filter_name, limit=limit, offset=offset
    )


@router.post(
    "/{run_id}/rollouts/traces",
    response_model=rollout_views.RolloutTracesOut,
    status_code=201,
    responses={404: {"description": "Unknown run or rollout id"}},
)
async def rollouts_to_traces(
    run_id: uuid.UUID, body: rollout_views.RolloutTracesRequest, session: Session
) -> rollout_views.RolloutTracesOut:
    """Store each chosen completion as a trace (source "rollout"; steps parsed from the
    completion like evaluation outputs), ready for scoring and a new dataset version."""
    created = await rollout_views.create_traces(session, run_id, body.ids)
    await session.commit()
    return created
