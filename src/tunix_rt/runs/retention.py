"""Checkpoint retention and the best checkpoint of a run.

The training child keeps every checkpoint it saves; the worker decides what stays. After
each committed checkpoint (and whenever the best changes, and at the end of an attempt) it
keeps:
- the latest `keep_checkpoints` committed steps,
- the best step: the committed checkpoint with the best value of the run's `best_metric`
  among steps that have both a metric row and a checkpoint row (max or min by `best_mode`;
  ties go to the earlier step, so the best only moves on a strict improvement),
- every step with a checkpoint_pins row (an evaluation, an export, a person).

Everything else is pruned in two phases: the rows first, in the caller's transaction (which
the worker fences, so an attempt that lost the run deletes nothing), and then, after the
commit, the directories (`remove_pruned`), which are moved into the run's `.trash/` and
deleted; a directory still referenced by any artifact row is never touched, and a failure
to delete files is logged, never raised. Pruned steps are remembered in
runs.result["pruned_steps"], so a later pin of one is answered "deleted" (409), not
"unknown" (404).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.db import models
from tunix_rt.runs import artifacts, queue
from tunix_rt.runs.best import (
    BestMode,
    choose_best,
    default_best_metric,
    default_best_mode,
    keep_steps,
)

DEFAULT_KEEP_CHECKPOINTS = 2
TRASH_DIR = ".trash"
PRUNED_KEY = "pruned_steps"
CHECKPOINT_PREFIX = f"{artifacts.CHECKPOINTS_DIR}/"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    """What a run keeps: the latest `keep_latest` steps, its best by `metric`, its pins."""

    keep_latest: int = DEFAULT_KEEP_CHECKPOINTS
    metric: str | None = None
    mode: BestMode = "max"


def policy_of(request: Mapping[str, Any]) -> Policy:
    """The retention policy of a stored run request (defaults as RunRequest fills them, so
    runs stored before these fields existed get the same answer)."""
    keep = request.get("keep_checkpoints")
    metric = request.get("best_metric") or default_best_metric(
        request.get("eval_every_steps"), bool(request.get("eval_at_checkpoints"))
    )
    mode = request.get("best_mode")
    if mode not in ("max", "min"):
        mode = default_best_mode(metric) if metric else "max"
    return Policy(
        keep_latest=int(keep) if isinstance(keep, int) and keep >= 1 else DEFAULT_KEEP_CHECKPOINTS,
        metric=str(metric) if metric else None,
        mode=mode,
    )


def step_of(name: str) -> int | None:
    """`checkpoints/<step>` -> step; None for any other artifact name."""
    if not name.startswith(CHECKPOINT_PREFIX):
        return None
    tail = name[len(CHECKPOINT_PREFIX) :]
    return int(tail) if tail.isdigit() else None


@dataclass(frozen=True)
class CheckpointRow:
    step: int
    artifact_id: uuid.UUID
    relpath: str


async def checkpoint_rows(session: AsyncSession, run_id: uuid.UUID) -> dict[int, CheckpointRow]:
    """The run's committed checkpoints (artifact rows named checkpoints/<step>) by step."""
    rows = await session.execute(
        select(models.RunArtifact.id, models.RunArtifact.name, models.RunArtifact.relpath).where(
            models.RunArtifact.run_id == run_id,
            models.RunArtifact.name.startswith(CHECKPOINT_PREFIX),
        )
    )
    found: dict[int, CheckpointRow] = {}
    for art_id, name, relpath in rows:
        step = step_of(name)
        if step is not None:
            found[step] = CheckpointRow(step, art_id, relpath)
    return found


async def pins_by_step(session: AsyncSession, run_id: uuid.UUID) -> dict[int, list[str]]:
    rows = await session.execute(
        select(models.CheckpointPin.step, models.CheckpointPin.reason)
        .where(models.CheckpointPin.run_id == run_id)
        .order_by(models.CheckpointPin.step, models.CheckpointPin.created_at)
    )
    pins: dict[int, list[str]] = {}
    for step, reason in rows:
        pins.setdefault(step, []).append(reason)
    return pins


async def metric_values(
    session: AsyncSession, run_id: uuid.UUID, metric: str, steps: Iterable[int]
) -> dict[int, float]:
    wanted = sorted(set(steps))
    if not wanted:
        return {}
    rows = await session.execute(
        select(models.RunMetric.step, models.RunMetric.value).where(
            models.RunMetric.run_id == run_id,
            models.RunMetric.name == metric,
            models.RunMetric.step.in_(wanted),
        )
    )
    return {step: value for step, value in rows}


async def refresh_best(
    session: AsyncSession, run_id: uuid.UUID, policy: Policy
) -> tuple[int | None, bool]:
    """Recompute runs.best_step/best_value from the rows in this transaction and write them
    when they changed; returns (best step, changed). Metric and checkpoint rows may arrive in
    either order: whichever comes second makes the step a candidate."""
    current = (
        await session.execute(
            select(models.Run.best_step, models.Run.best_value).where(models.Run.id == run_id)
        )
    ).one()
    if policy.metric is None:
        return current.best_step, False
    steps = await checkpoint_rows(session, run_id)
    best = choose_best(await metric_values(session, run_id, policy.metric, steps), policy.mode)
    wanted = best if best is not None else (None, None)
    if (current.best_step, current.best_value) == wanted:
        return wanted[0], False
    await queue.update_run_fields(session, run_id, best_step=wanted[0], best_value=wanted[1])
    return wanted[0], True


@dataclass
class PrunePlan:
    """Rows deleted in a transaction; directories to remove once it has committed."""

    steps: list[int] = field(default_factory=list)
    relpaths: list[str] = field(default_factory=list)
    # Every relpath still referenced by an artifact row of the run after the deletion.
    referenced: set[str] = field(default_factory=set)


async def prune_rows(
    session: AsyncSession, run_id: uuid.UUID, policy: Policy, best_step: int | None
) -> PrunePlan:
    """Delete the artifact rows of the checkpoints retention does not keep (the caller has
    fenced or locked the run row and commits); returns what to remove from disk."""
    rows = await checkpoint_rows(session, run_id)
    pinned = await pins_by_step(session, run_id)
    keep = keep_steps(rows, policy.keep_latest, best_step, pinned)
    doomed = [rows[step] for step in sorted(rows) if step not in keep]
    plan = PrunePlan()
    if not doomed:
        return plan
    await session.execute(
        delete(models.RunArtifact).where(
            models.RunArtifact.id.in_([row.artifact_id for row in doomed])
        )
    )
    result = (
        await session.execute(select(models.Run.result).where(models.Run.id == run_id))
    ).scalar()
    earlier = (result or {}).get(PRUNED_KEY) or []
    pruned = sorted({int(s) for s in earlier if isinstance(s, int)} | {r.step for r in doomed})
    await queue.merge_run_result(session, run_id, pruned_steps=pruned)
    plan.steps = [row.step for row in doomed]
    plan.relpaths = [row.relpath for row in doomed]
    plan.referenced = set(
        (
            await session.execute(
                select(models.RunArtifact.relpath).where(models.RunArtifact.run_id == run_id)
            )
        ).scalars()
    )
    return plan


async def prune(session: AsyncSession, run_id: uuid.UUID, policy: Policy) -> tuple[PrunePlan, bool]:
    """refresh_best then prune_rows in the caller's (fenced) transaction; returns the plan
    and whether the best changed."""
    best_step, changed = await refresh_best(session, run_id, policy)
    return await prune_rows(session, run_id, policy, best_step), changed


def _overlaps(relpath: str, referenced: set[str]) -> bool:
    """Is relpath, something inside it or something around it referenced by a row?"""
    for other in referenced:
        if other == relpath or other.startswith(relpath + "/") or relpath.startswith(other + "/"):
            return True
    return False


def directories_to_remove(run_dir: Path, plan: PrunePlan, max_fence: int | None) -> list[str]:
    """The pruned rows' directories plus the same step's copies in attempt directories up to
    `max_fence` (a resumed attempt holds a hard-linked copy of the step it started from),
    minus anything still referenced."""
    candidates = list(plan.relpaths)
    attempts_root = run_dir / artifacts.ATTEMPTS_DIR
    if max_fence is not None and attempts_root.is_dir():
        fences = sorted(
            int(p.name)
            for p in attempts_root.iterdir()
            if p.name.isdigit() and int(p.name) <= max_fence
        )
        for fence in fences:
            for step in plan.steps:
                relpath = f"{artifacts.attempt_dir_of(fence)}/{artifacts.CHECKPOINTS_DIR}/{step}"
                if relpath not in candidates and (run_dir / relpath).is_dir():
                    candidates.append(relpath)
    return [
        rel for rel in candidates if not _overlaps(rel, plan.referenced) and _within(run_dir, rel)
    ]


def _within(run_dir: Path, relpath: str) -> bool:
    if Path(relpath).is_absolute() or ".." in Path(relpath).parts:
        return False
    try:
        (run_dir / relpath).resolve().relative_to(run_dir.resolve())
    except ValueError:
        return False
    return True


def remove_pruned(run_dir: Path, plan: PrunePlan, max_fence: int | None) -> list[str]:
    """Delete the pruned checkpoint directories (blocking; call it after the commit). Each is
    first renamed into the run's .trash/ (atomic: nothing half-deleted is ever seen under a
    step name), then removed. Returns the relpaths removed; failures are logged, never
    raised (a full or read-only disk must not fail a run)."""
    removed: list[str] = []
    if not plan.relpaths:
        return removed
    try:
        doomed = directories_to_remove(run_dir, plan, max_fence)
    except OSError as exc:
        log.warning("retention: cannot list %s: %s", run_dir, exc)
        return removed
    trash = run_dir / TRASH_DIR
    for relpath in doomed:
        source = run_dir / relpath
        try:
            if not source.exists():
                continue
            trash.mkdir(exist_ok=True)
            target = trash / uuid.uuid4().hex
            source.rename(target)
        except OSError as exc:
            log.warning("retention: cannot move %s aside: %s", relpath, exc)
            continue
        removed.append(relpath)
        shutil.rmtree(target, onerror=_log_rmtree_error)
    return removed


def _log_rmtree_error(func: Any, path: str, exc_info: Any) -> None:
    log.warning("retention: cannot delete %s: %s", path, exc_info[1])
