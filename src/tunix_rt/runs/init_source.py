"""Submit-time checks of a run that starts from another run's checkpoint (init_from).

The source must be a training run of this service (not a dry run, not a job) with that
checkpoint. "latest" and "best" are resolved to a step now and the step is written back into
the request, so the stored request (and a retry of it) names exactly the checkpoint the run
starts from; the run keeps the source's model (model_id; the rest is read from the source
run when the attempt is materialized). The step is pinned (reason `init:<run id>`, through
checkpoints.pin_checkpoint, which serialises with the worker's pruning on the source row) in
the transaction that queues the run, so retention keeps it. A dry run checks the same but
pins nothing: it never reads the weights.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.runs import checkpoints as run_checkpoints
from tunix_rt.runs import retention
from tunix_rt.runs.schema import RunRequest

KIND_TRAIN = "train"


def pin_reason(run_id: uuid.UUID) -> str:
    return f"init:{run_id}"


async def resolve_init_from(session: AsyncSession, request: RunRequest) -> models.Run | None:
    """Check request.init_from and resolve its checkpoint to a step (in place); returns the
    source run, None when the request has no init_from."""
    init = request.init_from
    if init is None:
        return None
    source = await session.get(models.Run, init.run_id)
    if source is None:
        raise errors.NotFound(f"init_from: run {init.run_id} not found")
    if source.dry_run:
        raise errors.ValidationFailed(f"init_from: run {source.id} is a dry run: no checkpoints")
    if source.kind != KIND_TRAIN:
        raise errors.ValidationFailed(
            f"init_from: run {source.id} is a {source.kind} job, not a training run"
        )
    if "model_id" in request.model_fields_set and request.model_id != source.model_id:
        raise errors.ValidationFailed(
            f"model_id {request.model_id}: a run started from run {source.id} keeps its "
            f"model ({source.model_id}); leave model_id out"
        )
    step = await run_checkpoints.resolve_step(session, source, init.checkpoint, "start from")
    if request.dry_run and step not in await retention.checkpoint_rows(session, source.id):
        raise errors.NotFound(f"run {source.id} has no checkpoint at step {step}")
    init.checkpoint = step
    request.model_id = source.model_id
    return source


async def pin_init_checkpoint(session: AsyncSession, run: models.Run, request: RunRequest) -> None:
    """Pin the step a queued run starts from (the caller commits with the run)."""
    init = request.init_from
    if init is None or run.dry_run:
        return
    assert isinstance(init.checkpoint, int), "resolve_init_from first"
    await run_checkpoints.pin_checkpoint(session, init.run_id, init.checkpoint, pin_reason(run.id))
