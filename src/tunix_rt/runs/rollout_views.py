"""Reading a GRPO run's stored rollouts (by step and filter) and turning chosen completions
into traces (source "rollout"), so they can be scored and frozen into a new dataset."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.runs import registry
from tunix_rt.traces import store as trace_store
from tunix_rt.traces.outputs import NO_ANSWER, TRACE_VERSION, steps_from_generation
from tunix_rt.traces.schema import TracePayload

Rollout = models.RunRollout
RolloutFilter = Literal["all", "format_right_answer_wrong", "correct", "wrong"]
ROLLOUT_SOURCE = "rollout"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_TRACE_IDS = 1000
MAX_STEP = 2**31 - 1  # an INTEGER column
MAX_OFFSET = 10**9


class RolloutOut(BaseModel):
    id: uuid.UUID
    step: int
    prompt_index: int
    generation: int
    prompt: str
    expected: str
    completion: str
    answer: str | None
    correct: bool
    format_ok: bool
    rewards: dict[str, float]
    reward: float
    advantage: float

    @classmethod
    def from_model(cls, row: models.RunRollout) -> RolloutOut:
        return cls(
            id=row.id,
            step=row.step,
            prompt_index=row.prompt_index,
            generation=row.generation,
            prompt=row.prompt,
            expected=row.expected,
            completion=row.completion,
            answer=row.answer,
            correct=row.correct,
            format_ok=row.format_ok,
            rewards=row.rewards or {},
            reward=row.reward,
            advantage=row.advantage,
        )


class RolloutPage(BaseModel):
    steps: list[int] = Field(description="Every step with rollouts, ascending.")
    step: int | None = Field(description="The step the items are of (default: the latest).")
    total: int = Field(description="Items of that step matching the filter.")
    items: list[RolloutOut]


class RolloutTracesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_TRACE_IDS)


class RolloutTracesOut(BaseModel):
    trace_ids: list[uuid.UUID]
    created: int


def filter_clause(name: RolloutFilter) -> ColumnElement[bool]:
    if name == "correct":
        return Rollout.correct.is_(True)
    if name == "wrong":
        return Rollout.correct.is_(False)
    if name == "format_right_answer_wrong":  # reward hacking shows up here
        return Rollout.format_ok.is_(True) & Rollout.correct.is_(False)
    return true()


async def list_rollouts(
    session: AsyncSession,
    run_id: uuid.UUID,
    *,
    step: int | None = None,
    filter_name: RolloutFilter = "all",
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> RolloutPage:
    """The rollouts of one step (default the latest), by prompt and generation."""
    await registry.ensure_run_exists(session, run_id)
    steps = list(
        await session.scalars(
            select(Rollout.step).where(Rollout.run_id == run_id).distinct().order_by(Rollout.step)
        )
    )
    if step is not None and step not in steps:
        known = ", ".join(str(s) for s in steps) or "none"
        raise errors.NotFound(f"run {run_id} has no rollouts at step {step} (it has: {known})")
    chosen = step if step is not None else (steps[-1] if steps else None)
    if chosen is None:
        return RolloutPage(steps=[], step=None, total=0, items=[])
    where = (Rollout.run_id == run_id) & (Rollout.step == chosen) & filter_clause(filter_name)
    total = int(await session.scalar(select(func.count()).select_from(Rollout).where(where)) or 0)
    rows = await session.scalars(
        select(Rollout)
        .where(where)
        .order_by(Rollout.prompt_index, Rollout.generation)
        .limit(limit)
        .offset(offset)
    )
    return RolloutPage(
        steps=steps, step=chosen, total=total, items=[RolloutOut.from_model(r) for r in rows]
    )


async def dataset_task(session: AsyncSession, dataset_key: str) -> str | None:
    """The task of a run's dataset when it holds one task only (rollouts carry none)."""
    tasks = list(
        await session.scalars(
            select(models.Trace.task)
            .join(models.DatasetMember, models.DatasetMember.trace_id == models.Trace.id)
            .where(models.DatasetMember.dataset_key == dataset_key)
            .distinct()
            .limit(2)
        )
    )
    return tasks[0] if len(tasks) == 1 else None


def trace_payload(row: models.RunRollout, task: str | None) -> TracePayload:
    meta: dict[str, Any] = {
        "source": ROLLOUT_SOURCE,
        "run_id": str(row.run_id),
        "rollout_id": str(row.id),
        "step": row.step,
        "prompt_index": row.prompt_index,
        "generation": row.generation,
        "task": task,
        "expected_answer": row.expected,
        "correct": row.correct,
        "format_ok": row.format_ok,
        "rewards": row.rewards or {},
        "reward": row.reward,
        "advantage": row.advantage,
    }
    return TracePayload(
        trace_version=TRACE_VERSION,
        prompt=row.prompt or "(empty prompt)",
        final_answer=(row.answer or "").strip() or NO_ANSWER,
        steps=steps_from_generation(row.completion),
        meta={k: v for k, v in meta.items() if v is not None},
    )


async def create_traces(
    session: AsyncSession, run_id: uuid.UUID, ids: list[uuid.UUID]
) -> RolloutTracesOut:
    """One stored trace per chosen rollout of the run, in the order given (a repeated id
    counts once); NotFound names the ids the run has no rollout for. The caller commits."""
    run = await session.get(models.Run, run_id)
    if run is None:
        raise errors.NotFound(f"run {run_id} not found")
    wanted = list(dict.fromkeys(ids))
    rows = await session.scalars(
        select(Rollout).where(Rollout.run_id == run_id, Rollout.id.in_(wanted))
    )
    by_id = {row.id: row for row in rows}
    missing = [str(i) for i in wanted if i not in by_id]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise errors.NotFound(f"run {run_id} has no rollout {shown}")
    task = await dataset_task(session, run.dataset_key)
    try:
        payloads = [trace_payload(by_id[i], task) for i in wanted]
    except ValueError as exc:
        raise errors.ValidationFailed(f"a rollout cannot become a trace: {exc}") from exc
    trace_ids = await trace_store.insert_traces(session, payloads)
    return RolloutTracesOut(trace_ids=trace_ids, created=len(trace_ids))
