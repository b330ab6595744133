"""A run's checkpoints as clients see them (best, latest, pins, metric value) and pins.

Pinning serialises with the worker's pruning on the run row: both write it first in their
transaction (the worker's fence; here a touch of updated_at), so a pin either lands before a
prune (which then keeps the step) or sees the prune's deletion (409). Other code that pins
(evaluation jobs, exports) should pin through `pin_checkpoint` for the same guarantee.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.db.types import utcnow
from tunix_rt.runs import queue, retention, states

USER_REASON = "user"


@dataclass(frozen=True)
class CheckpointView:
    step: int
    artifact_id: uuid.UUID
    size_bytes: int
    created_at: datetime
    latest: bool
    best: bool
    pinned_by: list[str]
    value: float | None


@dataclass(frozen=True)
class RunCheckpoints:
    run_id: uuid.UUID
    best_metric: str | None
    best_mode: str | None
    best_step: int | None
    best_value: float | None
    keep_checkpoints: int
    checkpoints: list[CheckpointView]
    pruned_steps: list[int]


def pruned_steps(run: models.Run) -> list[int]:
    steps = (run.result or {}).get(retention.PRUNED_KEY) or []
    return [s for s in steps if isinstance(s, int)]


async def list_checkpoints(session: AsyncSession, run_id: uuid.UUID) -> RunCheckpoints:
    run = await queue.read_run(session, run_id)
    policy = retention.policy_of(run.request or {})
    rows = (
        (
            await session.execute(
                select(models.RunArtifact).where(
                    models.RunArtifact.run_id == run_id,
                    models.RunArtifact.name.startswith(retention.CHECKPOINT_PREFIX),
                )
            )
        )
        .scalars()
        .all()
    )
    by_step = {step: row for row in rows if (step := retention.step_of(row.name)) is not None}
    pins = await retention.pins_by_step(session, run_id)
    values: dict[int, float] = {}
    if policy.metric is not None:
        values = await retention.metric_values(session, run_id, policy.metric, by_step)
    latest = max(by_step, default=None)
    views = [
        CheckpointView(
            step=step,
            artifact_id=row.id,
            size_bytes=row.size_bytes,
            created_at=row.created_at,
            latest=step == latest,
            best=step == run.best_step,
            pinned_by=pins.get(step, []),
            value=values.get(step),
        )
        for step, row in sorted(by_step.items())
    ]
    return RunCheckpoints(
        run_id=run.id,
        best_metric=policy.metric,
        best_mode=policy.mode if policy.metric else None,
        best_step=run.best_step,
        best_value=run.best_value,
        keep_checkpoints=policy.keep_latest,
        checkpoints=views,
        pruned_steps=pruned_steps(run),
    )


async def resolve_step(
    session: AsyncSession, run: models.Run, checkpoint: str | int, purpose: str
) -> int:
    """The step "latest", "best" or STEP names (for an evaluation or an export: `purpose`).
    Whether a given step exists is checked by pin_checkpoint, under the run's row lock."""
    rows = await retention.checkpoint_rows(session, run.id)
    if not rows:
        raise errors.Conflict(
            f"run {run.id} has no committed checkpoint to {purpose} yet", status=run.status
        )
    if checkpoint == "latest":
        return max(rows)
    if checkpoint == "best":
        if run.best_step is None:
            raise errors.Conflict(
                f"run {run.id} has no best checkpoint: it needs evaluations during training "
                "(eval_every_steps) at checkpoint steps",
                status=run.status,
            )
        return run.best_step
    if isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or checkpoint < 0:
        raise errors.ValidationFailed('checkpoint must be "latest", "best" or a step >= 0')
    return checkpoint


async def _lock_run(session: AsyncSession, run_id: uuid.UUID) -> models.Run:
    """Write the run row first (serialises with a worker's fenced prune), then read it."""
    await queue.update_run_fields(session, run_id, updated_at=utcnow())
    return await queue.read_run(session, run_id)


async def pin_checkpoint(session: AsyncSession, run_id: uuid.UUID, step: int, reason: str) -> None:
    """Pin a committed checkpoint (idempotent per reason); the caller commits. NotFound for
    an unknown run or a step that never was a checkpoint, Conflict for a pruned one."""
    run = await _lock_run(session, run_id)
    rows = await retention.checkpoint_rows(session, run_id)
    if step not in rows:
        if step in pruned_steps(run):
            raise errors.Conflict(
                f"checkpoint step {step} of run {run_id} was deleted by retention",
                status=run.status,
            )
        known = ", ".join(str(s) for s in sorted(rows)) or "none"
        raise errors.NotFound(f"run {run_id} has no checkpoint at step {step} (it has: {known})")
    existing = await session.get(models.CheckpointPin, (run_id, step, reason))
    if existing is None:
        session.add(
            models.CheckpointPin(run_id=run_id, step=step, reason=reason, created_at=utcnow())
        )
        await session.flush()


async def unpin_checkpoint(
    session: AsyncSession, run_id: uuid.UUID, step: int, reason: str
) -> retention.PrunePlan:
    """Remove one pin; the caller commits and then removes the plan's directories. A run that
    no attempt owns any more (terminal) is pruned at once: no worker will do it later."""
    run = await _lock_run(session, run_id)
    deleted = await session.execute(
        delete(models.CheckpointPin).where(
            models.CheckpointPin.run_id == run_id,
            models.CheckpointPin.step == step,
            models.CheckpointPin.reason == reason,
        )
    )
    if getattr(deleted, "rowcount", 1) == 0:
        raise errors.NotFound(f"checkpoint step {step} of run {run_id} is not pinned by {reason}")
    if run.status not in states.TERMINAL:
        return retention.PrunePlan()
    plan, _ = await retention.prune(session, run_id, retention.policy_of(run.request or {}))
    return plan


def remove_pruned(run_dir: Path, plan: retention.PrunePlan) -> list[str]:
    return retention.remove_pruned(run_dir, plan, max_fence=None)
