"""Routes: a run's checkpoints (best, latest, pins, metric value) and a person's pins."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from tunix_rt import errors
from tunix_rt.api.deps import Context, Session
from tunix_rt.runs import checkpoints, materialize

router = APIRouter(prefix="/api/tunix/runs", tags=["checkpoints"])

Step = Annotated[int, Path(ge=0, le=2**31 - 1, description="A checkpoint step")]


class CheckpointOut(BaseModel):
    step: int
    artifact_id: uuid.UUID
    size_bytes: int
    created_at: datetime
    latest: bool
    best: bool
    pinned_by: list[str]
    value: float | None  # the run's best_metric at this step, when it was measured


class RunCheckpointsOut(BaseModel):
    run_id: uuid.UUID
    best_metric: str | None
    best_mode: str | None
    best_step: int | None
    best_value: float | None
    keep_checkpoints: int
    checkpoints: list[CheckpointOut]
    pruned_steps: list[int]


def _out(view: checkpoints.CheckpointView) -> CheckpointOut:
    return CheckpointOut(
        step=view.step,
        artifact_id=view.artifact_id,
        size_bytes=view.size_bytes,
        created_at=view.created_at,
        latest=view.latest,
        best=view.best,
        pinned_by=view.pinned_by,
        value=view.value,
    )


async def _listing(session: Session, run_id: uuid.UUID) -> RunCheckpointsOut:
    found = await checkpoints.list_checkpoints(session, run_id)
    return RunCheckpointsOut(
        run_id=found.run_id,
        best_metric=found.best_metric,
        best_mode=found.best_mode,
        best_step=found.best_step,
        best_value=found.best_value,
        keep_checkpoints=found.keep_checkpoints,
        checkpoints=[_out(v) for v in found.checkpoints],
        pruned_steps=found.pruned_steps,
    )


@router.get("/{run_id}/checkpoints", response_model=RunCheckpointsOut)
async def list_run_checkpoints(run_id: uuid.UUID, session: Session) -> RunCheckpointsOut:
    """Committed checkpoints, oldest first: which is the latest, the best (by the run's
    best_metric), who pins it, and best_metric's value at that step."""
    return await _listing(session, run_id)


@router.post("/{run_id}/checkpoints/{step}/pin", response_model=CheckpointOut)
async def pin_run_checkpoint(run_id: uuid.UUID, step: Step, session: Session) -> CheckpointOut:
    """Keep this checkpoint whatever retention would do (reason "user"); idempotent.
    404: unknown run or step; 409: the step was deleted by retention."""
    await checkpoints.pin_checkpoint(session, run_id, step, checkpoints.USER_REASON)
    await session.commit()
    listing = await checkpoints.list_checkpoints(session, run_id)
    pinned = [view for view in listing.checkpoints if view.step == step]
    if not pinned:  # pinned steps are never pruned; only a deleted run gets here
        raise errors.NotFound(f"run {run_id} has no checkpoint at step {step}")
    return _out(pinned[0])


@router.delete("/{run_id}/checkpoints/{step}/pin", status_code=204)
async def unpin_run_checkpoint(
    run_id: uuid.UUID, step: Step, ctx: Context, session: Session
) -> Response:
    """Drop the "user" pin. A finished run is pruned at once (no worker will); a running
    one at its next checkpoint. 404: unknown run, or the step is not pinned by a user."""
    plan = await checkpoints.unpin_checkpoint(session, run_id, step, checkpoints.USER_REASON)
    await session.commit()
    if plan.relpaths:
        run_dir = materialize.run_dir_of(ctx.settings, run_id)
        await asyncio.to_thread(checkpoints.remove_pruned, run_dir, plan)
    return Response(status_code=204)
