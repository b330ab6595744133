"""Read queries over runs: lists, one record, its status, history, metric curve and eval.

Nothing here writes (writes live in runs/queue.py). Hot paths select only the columns they
return: list rows never load the output tails, the status probe reads five columns.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.runs import downloads, labels, queue
from tunix_rt.runs.schema import RunEventOut, RunOut, RunRowOut, RunStatusOut

Run = models.Run
MAX_LIST_LIMIT = 100
UUID_HEX_DIGITS = 32
MIN_ID_PREFIX_DIGITS = 4
MAX_METRIC_POINTS = 100_000
EVAL_FILE = "eval.json"
EVAL_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RunFilters:
    status: str | None = None
    dataset_key: str | None = None
    mode: str | None = None
    id_prefix: str | None = None
    kind: str | None = "train"  # None: every kind
    tags: tuple[str, ...] = ()  # runs holding all of them
    name_contains: str | None = None  # case-insensitive substring of the name


def id_prefix_range(prefix: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The smallest and largest run id that start with PREFIX (hex digits, dashes ignored).

    A prefix of a UUID is a contiguous range of UUIDs, and both backends order the id column
    by its hex digits (PostgreSQL compares uuid bytes, SQLite stores 32 lowercase hex chars),
    so a prefix lookup is a primary-key range scan, not a LIKE over every row.
    """
    digits = prefix.replace("-", "").lower()
    if not MIN_ID_PREFIX_DIGITS <= len(digits) <= UUID_HEX_DIGITS or any(
        c not in "0123456789abcdef" for c in digits
    ):
        raise errors.ValidationFailed(
            f"id prefix {prefix!r} must be {MIN_ID_PREFIX_DIGITS} to {UUID_HEX_DIGITS} hex digits"
        )
    pad = UUID_HEX_DIGITS - len(digits)
    return uuid.UUID(digits + "0" * pad), uuid.UUID(digits + "f" * pad)


async def list_runs(
    session: AsyncSession, *, limit: int, offset: int, filters: RunFilters
) -> tuple[list[RunRowOut], bool]:
    """Newest first; returns the page and whether another page follows."""
    stmt = select(Run).options(
        defer(Run.stdout_tail, raiseload=True),
        defer(Run.stderr_tail, raiseload=True),
        defer(Run.notes, raiseload=True),
    )
    if filters.kind is not None:
        stmt = stmt.where(Run.kind == filters.kind)
    for tag in filters.tags:
        # One primary-key probe of run_tags (run_id, tag) per listed run and tag.
        stmt = stmt.where(exists().where(models.RunTag.run_id == Run.id, models.RunTag.tag == tag))
    if filters.name_contains:
        # ILIKE on PostgreSQL, lower(name) LIKE lower(:q) on SQLite (ASCII case folding there);
        # autoescape makes % and _ in the query match themselves.
        stmt = stmt.where(Run.name.icontains(filters.name_contains, autoescape=True))
    if filters.status is not None:
        stmt = stmt.where(Run.status == filters.status)
    if filters.dataset_key is not None:
        stmt = stmt.where(Run.dataset_key == filters.dataset_key)
    if filters.mode is not None:
        stmt = stmt.where(Run.mode == filters.mode)
    if filters.id_prefix is not None:
        lowest, highest = id_prefix_range(filters.id_prefix)
        stmt = stmt.where(Run.id.between(lowest, highest))
    # One extra row tells whether a next page exists without a COUNT(*).
    stmt = stmt.order_by(Run.created_at.desc(), Run.id.desc()).limit(limit + 1).offset(offset)
    runs = list((await session.scalars(stmt)).all())
    page = runs[:limit]
    tags = await labels.read_tags(session, [run.id for run in page])
    return [RunRowOut.from_model(run, tags.get(run.id, ())) for run in page], len(runs) > limit


async def read_run(session: AsyncSession, run_id: uuid.UUID) -> RunOut:
    run = await queue.read_run(session, run_id)
    return RunOut.from_model(run, await labels.read_run_tags(session, run_id))


async def ensure_run_exists(session: AsyncSession, run_id: uuid.UUID) -> None:
    found = await session.scalar(select(Run.id).where(Run.id == run_id))
    if found is None:
        raise errors.NotFound(f"run {run_id} not found")


async def read_status(session: AsyncSession, run_id: uuid.UUID) -> RunStatusOut:
    row = (
        await session.execute(
            select(Run.id, Run.status, Run.attempt, Run.last_step, Run.updated_at).where(
                Run.id == run_id
            )
        )
    ).one_or_none()
    if row is None:
        raise errors.NotFound(f"run {run_id} not found")
    return RunStatusOut(
        run_id=row.id,
        status=row.status,
        attempt=row.attempt,
        last_step=row.last_step,
        updated_at=row.updated_at,
    )


async def list_events(
    session: AsyncSession, run_id: uuid.UUID, *, after_id: int = 0
) -> list[tuple[int, RunEventOut]]:
    """Transition history, oldest first, as (event row id, event)."""
    rows = await session.scalars(
        select(models.RunEvent)
        .where(models.RunEvent.run_id == run_id, models.RunEvent.id > after_id)
        .order_by(models.RunEvent.id)
    )
    return [(row.id, RunEventOut.from_model(row)) for row in rows]


async def list_metrics(
    session: AsyncSession,
    run_id: uuid.UUID,
    *,
    name: str | None = None,
    after_step: int | None = None,
    limit: int = MAX_METRIC_POINTS,
) -> list[tuple[str, int, float]]:
    """(name, step, value) ordered by step then name; served from the (run_id, name, step) key."""
    M = models.RunMetric
    stmt = select(M.name, M.step, M.value).where(M.run_id == run_id)
    if name is not None:
        stmt = stmt.where(M.name == name)
    if after_step is not None:
        stmt = stmt.where(M.step > after_step)
    stmt = stmt.order_by(M.step, M.name).limit(limit)
    return [(r.name, r.step, r.value) for r in await session.execute(stmt)]


async def list_metrics_timed(
    session: AsyncSession,
    run_id: uuid.UUID,
    *,
    name: str | None = None,
    after_step: int | None = None,
    limit: int = MAX_METRIC_POINTS,
) -> list[tuple[str, int, float, float | None]]:
    """list_metrics with wall_s: seconds from the run's first start to when the point was
    stored (None before the run has started). started_at is set once, at the first claim, so
    a resumed attempt's points continue the same clock."""
    M = models.RunMetric
    started = await session.scalar(select(Run.started_at).where(Run.id == run_id))
    stmt = select(M.name, M.step, M.value, M.created_at).where(M.run_id == run_id)
    if name is not None:
        stmt = stmt.where(M.name == name)
    if after_step is not None:
        stmt = stmt.where(M.step > after_step)
    stmt = stmt.order_by(M.step, M.name).limit(limit)
    return [
        (
            r.name,
            r.step,
            r.value,
            None if started is None else (r.created_at - started).total_seconds(),
        )
        for r in await session.execute(stmt)
    ]


async def read_max_metric_step(session: AsyncSession, run_id: uuid.UUID) -> int | None:
    M = models.RunMetric
    step: int | None = await session.scalar(select(func.max(M.step)).where(M.run_id == run_id))
    return step


async def read_eval_relpath(session: AsyncSession, run_id: uuid.UUID) -> str:
    """Where the run's eval.json lies: the registered artifact of the attempt that wrote it
    (attempts/<fence>/eval.json), else the run directory's own (runs from before attempt
    directories; a child still writing has not registered it yet)."""
    relpath = await session.scalar(
        select(models.RunArtifact.relpath).where(
            models.RunArtifact.run_id == run_id, models.RunArtifact.name == EVAL_FILE
        )
    )
    return str(relpath) if relpath else EVAL_FILE


def read_eval(artifact_root: Path, run_id: uuid.UUID, relpath: str = EVAL_FILE) -> dict[str, Any]:
    """The run's eval.json; NotFound until the child has written it completely."""
    run_dir = downloads.run_directory(artifact_root, run_id)
    path = downloads.resolve_inside(run_dir, relpath)
    handle, size = downloads.open_regular_file(path)
    with handle:
        if size > EVAL_MAX_BYTES:
            raise errors.PayloadTooLarge(f"eval.json is larger than {EVAL_MAX_BYTES} bytes")
        raw = handle.read()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        # The child writes eval.json before announcing it; a half-written file reads as absent.
        raise errors.NotFound(f"eval.json of run {run_id} is not complete yet") from exc
    if not isinstance(data, dict):
        raise errors.NotFound(f"eval.json of run {run_id} is not an object")
    return data


async def list_artifacts(session: AsyncSession, run_id: uuid.UUID) -> list[models.RunArtifact]:
    rows = await session.scalars(
        select(models.RunArtifact)
        .options(defer(models.RunArtifact.manifest))
        .where(models.RunArtifact.run_id == run_id)
        .order_by(models.RunArtifact.created_at, models.RunArtifact.name)
    )
    return list(rows)


async def read_artifact(
    session: AsyncSession, run_id: uuid.UUID, artifact_id: uuid.UUID
) -> models.RunArtifact:
    """An artifact of THIS run; another run's artifact id is NotFound like an unknown one."""
    row = await session.scalar(
        select(models.RunArtifact).where(
            models.RunArtifact.id == artifact_id, models.RunArtifact.run_id == run_id
        )
    )
    if row is None:
        raise errors.NotFound(f"artifact {artifact_id} not found in run {run_id}")
    return row
