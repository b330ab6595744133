"""Sweep rows and their trials as clients see them: create, read, list, cancel, pin best.

A trial is an ordinary run (runs.sweep_id, runs.trial_number). Its state comes from the
run's status, its value from the run's end-of-run evaluation record, its intermediate values
from the run's mid-training eval metrics, and its params and pruning from sweeps.trial_meta.
Functions take the caller's session and flush; the caller commits.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.datasets import store as dataset_store
from tunix_rt.db import models
from tunix_rt.db.types import utcnow
from tunix_rt.runs import checkpoints, queue, retention, states
from tunix_rt.runs.notify import Notice
from tunix_rt.sweeps.schema import (
    Objective,
    PinBestOut,
    SweepOut,
    SweepRequest,
    SweepRowOut,
    TrialOut,
)
from tunix_rt.sweeps.search import TrialRecord

RUNNING = "running"
COMPLETED = "completed"
CANCELLED = "cancelled"
FAILED = "failed"
SWEEP_STATUSES = (RUNNING, COMPLETED, CANCELLED, FAILED)
END_OF_RUN_SPLIT = "holdout"
PRUNED_REASON = "pruned"
MAX_LIST_LIMIT = 200


@dataclass
class Trial:
    """One trial: its run row (None never happens once asked) and what Optuna needs."""

    record: TrialRecord
    run: models.Run
    pruned_step: int | None

    @property
    def active(self) -> bool:
        return self.run.status in states.ACTIVE or self.run.status == states.PENDING


def pin_reason(sweep_id: uuid.UUID) -> str:
    return f"sweep:{sweep_id}"


def request_of(sweep: models.Sweep) -> SweepRequest:
    return SweepRequest.model_validate(sweep.spec["request"])


def seed_of(sweep: models.Sweep) -> int:
    return int(sweep.spec["seed"])


async def create_sweep(session: AsyncSession, request: SweepRequest) -> models.Sweep:
    await dataset_store.read_dataset(session, request.dataset_key)
    now = utcnow()
    # The seed is fixed here (drawn when not given) so every rebuild of the study agrees.
    seed = request.seed if request.seed is not None else random.SystemRandom().randrange(2**31)
    sweep = models.Sweep(
        id=uuid.uuid4(),
        name=request.name,
        status=RUNNING,
        dataset_key=request.dataset_key,
        spec={"request": request.model_dump(mode="json"), "seed": seed},
        trial_meta={},
        created_at=now,
        updated_at=now,
    )
    session.add(sweep)
    await session.flush()
    return sweep


async def read_sweep(session: AsyncSession, sweep_id: uuid.UUID) -> models.Sweep:
    sweep = await session.get(models.Sweep, sweep_id, populate_existing=True)
    if sweep is None:
        raise errors.NotFound(f"sweep {sweep_id} not found")
    return sweep


async def lock_sweep(session: AsyncSession, sweep_id: uuid.UUID, *, status: str) -> bool:
    """Write the sweep row first in the caller's transaction, if it is `status`.

    The row lock (PostgreSQL) or write lock (SQLite) it takes lasts until commit: every
    controller step and every cancel of one sweep starts here, so they never interleave
    (two controllers never ask for the same trial number; a cancel never misses a trial
    enqueued at the same moment)."""
    result = await session.execute(
        update(models.Sweep)
        .where(models.Sweep.id == sweep_id, models.Sweep.status == status)
        .values(updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    return getattr(result, "rowcount", 0) == 1


async def list_active_sweep_ids(session: AsyncSession) -> list[uuid.UUID]:
    rows = await session.scalars(select(models.Sweep.id).where(models.Sweep.status == RUNNING))
    return list(rows)


def _trial_state(run: models.Run, value: float | None, pruned: bool) -> str:
    if run.status == states.PENDING:
        return "pending"
    if run.status in states.ACTIVE:
        return "pruned" if pruned else "running"
    if run.status == states.COMPLETED:
        return "complete" if value is not None else "failed"
    if run.status == states.CANCELLED:
        return "pruned" if pruned else "cancelled"
    return "failed"


async def load_trials(session: AsyncSession, sweep: models.Sweep) -> list[Trial]:
    """Every trial of the sweep, in number order, with its value and intermediate values."""
    objective = request_of(sweep).objective
    runs = list(
        await session.scalars(
            select(models.Run)
            .where(models.Run.sweep_id == sweep.id)
            .order_by(models.Run.trial_number)
            .execution_options(populate_existing=True)
        )
    )
    run_ids = [run.id for run in runs]
    values: dict[uuid.UUID, float] = {}
    intermediate: dict[uuid.UUID, dict[int, float]] = {run_id: {} for run_id in run_ids}
    if run_ids:
        column = getattr(models.Evaluation, objective.metric)
        rows = await session.execute(
            select(models.Evaluation.run_id, column)
            .where(
                models.Evaluation.run_id.in_(run_ids),
                models.Evaluation.job_id.is_(None),
                models.Evaluation.split == END_OF_RUN_SPLIT,
                models.Evaluation.status == "completed",
            )
            .order_by(models.Evaluation.created_at)
        )
        for run_id, value in rows:  # the newest record of a run wins
            if run_id is not None and value is not None:
                values[run_id] = float(value)
        metric_rows = await session.execute(
            select(models.RunMetric.run_id, models.RunMetric.step, models.RunMetric.value).where(
                models.RunMetric.run_id.in_(run_ids),
                models.RunMetric.name == f"eval/{objective.metric}",
            )
        )
        for run_id, step, value in metric_rows:
            intermediate[run_id][int(step)] = float(value)
    meta = sweep.trial_meta or {}
    trials = []
    for run in runs:
        number = int(run.trial_number or 0)
        entry = meta.get(str(number), {})
        pruned_step = entry.get("pruned_step")
        value = values.get(run.id)
        state = _trial_state(run, value, pruned_step is not None)
        record = TrialRecord(
            number=number,
            params=dict(entry.get("params") or {}),
            state=state,
            value=value if state == "complete" else None,
            intermediate=dict(sorted(intermediate.get(run.id, {}).items())),
            system_attrs=dict(entry.get("system_attrs") or {}),
        )
        trials.append(Trial(record=record, run=run, pruned_step=pruned_step))
    return trials


def best_of(trials: Sequence[Trial], objective: Objective) -> Trial | None:
    """The complete trial with the best value (the lowest number among equals)."""
    done = [t for t in trials if t.record.state == "complete" and t.record.value is not None]
    if not done:
        return None
    sign = 1.0 if objective.direction == "maximize" else -1.0
    return max(done, key=lambda t: (sign * (t.record.value or 0.0), -t.record.number))


def trial_out(trial: Trial) -> TrialOut:
    run = trial.run
    duration = None
    if run.started_at is not None and run.finished_at is not None:
        duration = max(0.0, (run.finished_at - run.started_at).total_seconds())
    return TrialOut(
        number=trial.record.number,
        run_id=run.id,
        params=trial.record.params,
        state=trial.record.state,
        value=trial.record.value,
        intermediate=[(step, v) for step, v in trial.record.intermediate.items()],
        run_status=run.status,
        pruned_step=trial.pruned_step,
        best_step=run.best_step,
        duration_s=duration,
        error=run.error,
    )


def _counts(trials: Sequence[Trial]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.record.state] = counts.get(trial.record.state, 0) + 1
    return counts


def _row_fields(sweep: models.Sweep, trials: Sequence[Trial]) -> dict[str, Any]:
    request = request_of(sweep)
    best = best_of(trials, request.objective)
    return {
        "sweep_id": sweep.id,
        "name": sweep.name,
        "status": sweep.status,
        "dataset_key": sweep.dataset_key,
        "sampler": request.sampler,
        "pruner": request.pruner,
        "objective": request.objective,
        "n_trials": request.n_trials,
        "max_parallel": request.max_parallel,
        "counts": _counts(trials),
        "best_value": best.record.value if best is not None else None,
        "created_at": sweep.created_at,
        "finished_at": sweep.finished_at,
        "error": sweep.error,
    }


async def sweep_out(session: AsyncSession, sweep: models.Sweep) -> SweepOut:
    trials = await load_trials(session, sweep)
    request = request_of(sweep)
    best = best_of(trials, request.objective)
    return SweepOut(
        **_row_fields(sweep, trials),
        seed=seed_of(sweep),
        space=request.space,
        base=request.base,
        trials=[trial_out(t) for t in trials],
        best_trial=trial_out(best) if best is not None else None,
        updated_at=sweep.updated_at,
    )


async def list_sweeps(
    session: AsyncSession, *, status: str | None = None, limit: int = 50
) -> list[SweepRowOut]:
    stmt = select(models.Sweep).order_by(models.Sweep.created_at.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(models.Sweep.status == status)
    sweeps = list(await session.scalars(stmt))
    out = []
    for sweep in sweeps:
        trials = await load_trials(session, sweep)
        out.append(SweepRowOut(**_row_fields(sweep, trials)))
    return out


async def finish_sweep(
    session: AsyncSession, sweep: models.Sweep, status: str, error: str | None = None
) -> None:
    now = utcnow()
    sweep.status = status
    sweep.finished_at = now
    sweep.updated_at = now
    if error is not None:
        sweep.error = error[:4000]
    await session.flush()


async def cancel_sweep(session: AsyncSession, sweep_id: uuid.UUID) -> list[Notice]:
    """Cancel a running sweep and every pending or running trial (repeats are harmless;
    409 for a sweep that already ended otherwise)."""
    sweep = await read_sweep(session, sweep_id)
    if not await lock_sweep(session, sweep_id, status=RUNNING):
        sweep = await read_sweep(session, sweep_id)
        if sweep.status == CANCELLED:
            return []
        raise errors.Conflict(f"sweep {sweep_id} already ended ({sweep.status})")
    sweep = await read_sweep(session, sweep_id)
    notices: list[Notice] = []
    for trial in await load_trials(session, sweep):
        if not trial.active:
            continue
        try:
            _run, notice = await queue.request_cancel(session, trial.run.id, "sweep cancelled")
        except errors.Conflict:
            continue  # finished meanwhile
        if notice is not None:
            notices.append(notice)
    await finish_sweep(session, sweep, CANCELLED)
    return notices


async def pin_best(session: AsyncSession, sweep_id: uuid.UUID) -> PinBestOut:
    """Pin the best trial's best checkpoint (its latest when it has no best) against
    retention, with reason sweep:<id>."""
    sweep = await read_sweep(session, sweep_id)
    best = best_of(await load_trials(session, sweep), request_of(sweep).objective)
    if best is None:
        raise errors.Conflict(f"sweep {sweep_id} has no completed trial yet")
    run = best.run
    step = run.best_step
    if step is None:
        rows = await retention.checkpoint_rows(session, run.id)
        step = max(rows, default=None)
    if step is None:
        raise errors.Conflict(
            f"the best trial (#{best.record.number}, run {run.id}) kept no checkpoint"
        )
    reason = pin_reason(sweep_id)
    await checkpoints.pin_checkpoint(session, run.id, step, reason)
    return PinBestOut(
        sweep_id=sweep_id,
        run_id=run.id,
        trial_number=best.record.number,
        step=step,
        reason=reason,
    )
