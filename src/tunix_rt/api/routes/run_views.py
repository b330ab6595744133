"""Routes: the run registry read side (list, record, status, events, metrics, eval) and delete."""

from __future__ import annotations

import shutil
import uuid
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from tunix_rt import errors
from tunix_rt.api.deps import Context, Session
from tunix_rt.runs import downloads, labels, queue, registry
from tunix_rt.runs.notify import Notice
from tunix_rt.runs.schema import (
    MAX_NAME_CHARS,
    MAX_TAGS,
    RunEventOut,
    RunLabelsPatch,
    RunOut,
    RunRowOut,
    RunStatusOut,
    check_tag,
    root_labels,
)

router = APIRouter(prefix="/api/tunix/runs", tags=["runs"])

# Mirrors runs.states.STATUSES (a test keeps them equal).
StatusName = Literal[
    "pending", "running", "cancel_requested", "completed", "failed", "cancelled", "timeout"
]


class Pagination(BaseModel):
    limit: int
    offset: int
    next_offset: int | None


class RunList(BaseModel):
    data: list[RunRowOut]
    pagination: Pagination


class RunEventList(BaseModel):
    data: list[RunEventOut]


class MetricPoint(BaseModel):
    name: str
    step: int
    value: float
    wall_s: float | None = None  # seconds since the run first started; None while pending


class MetricList(BaseModel):
    data: list[MetricPoint]


def _check_text(field: str, value: str | None) -> None:
    # PostgreSQL text cannot hold NUL: refuse it here instead of failing in the driver.
    if value is not None and "\x00" in value:
        raise errors.ValidationFailed(f"{field} must not contain NUL characters")


@router.get("", response_model=RunList)
async def list_runs(
    session: Session,
    ctx: Context,
    limit: Annotated[int, Query(ge=1, le=registry.MAX_LIST_LIMIT)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    status: StatusName | None = None,
    dataset_key: Annotated[str | None, Query(max_length=300)] = None,
    mode: Literal["async", "sync"] | None = None,
    id_prefix: Annotated[
        str | None,
        Query(
            min_length=registry.MIN_ID_PREFIX_DIGITS,
            max_length=36,
            pattern=r"^[0-9a-fA-F-]+$",
            description="Only runs whose id starts with these hex digits (a short id).",
        ),
    ] = None,
    kind: Annotated[
        Literal["train", "eval", "all"],
        Query(description="Training runs (default), evaluation jobs, or all."),
    ] = "train",
    tag: Annotated[
        list[str] | None,
        Query(
            max_length=MAX_TAGS,
            description="Only runs holding this tag; repeat it for runs holding all of them.",
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_NAME_CHARS,
            description="Only runs whose name contains this text (case-insensitive).",
        ),
    ] = None,
) -> RunList:
    _check_text("dataset_key", dataset_key)
    _check_text("q", q)
    try:
        tags = tuple(check_tag(t) for t in dict.fromkeys(tag or ()))
    except ValueError as exc:
        raise errors.ValidationFailed(f"tag: {exc}") from None
    filters = registry.RunFilters(
        status=status,
        dataset_key=dataset_key,
        mode=mode,
        id_prefix=id_prefix,
        kind=None if kind == "all" else kind,
        tags=tags,
        name_contains=q or None,
    )
    rows, has_more = await registry.list_runs(session, limit=limit, offset=offset, filters=filters)
    next_offset = offset + limit if has_more else None
    labels = root_labels(ctx.settings)
    return RunList(
        data=[row.hiding_roots(labels) for row in rows],
        pagination=Pagination(limit=limit, offset=offset, next_offset=next_offset),
    )


@router.get("/{run_id}", response_model=RunOut)
async def read_run(run_id: uuid.UUID, ctx: Context, session: Session) -> RunOut:
    run = await registry.read_run(session, run_id)
    return run.hiding_roots(root_labels(ctx.settings))


@router.patch("/{run_id}", response_model=RunOut)
async def update_run_labels(
    run_id: uuid.UUID, patch: RunLabelsPatch, ctx: Context, session: Session
) -> RunOut:
    """Rename, tag or annotate a run, in any status (fields left out stay as they are)."""
    run, tags = await labels.update_labels(session, run_id, patch)
    await session.commit()
    return RunOut.from_model(run, tags).hiding_roots(root_labels(ctx.settings))


@router.get("/{run_id}/status", response_model=RunStatusOut)
async def read_run_status(run_id: uuid.UUID, session: Session) -> RunStatusOut:
    return await registry.read_status(session, run_id)


@router.get("/{run_id}/events", response_model=RunEventList)
async def list_run_events(run_id: uuid.UUID, session: Session) -> RunEventList:
    await registry.ensure_run_exists(session, run_id)
    events = await registry.list_events(session, run_id)
    return RunEventList(data=[event for _id, event in events])


@router.get("/{run_id}/metrics", response_model=MetricList)
async def list_run_metrics(
    run_id: uuid.UUID,
    session: Session,
    name: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    after_step: Annotated[int | None, Query(ge=-1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=registry.MAX_METRIC_POINTS)] = (
        registry.MAX_METRIC_POINTS
    ),
) -> MetricList:
    _check_text("name", name)
    await registry.ensure_run_exists(session, run_id)
    rows = await registry.list_metrics_timed(
        session, run_id, name=name, after_step=after_step, limit=limit
    )
    return MetricList(data=[MetricPoint(name=n, step=s, value=v, wall_s=w) for n, s, v, w in rows])


@router.get("/{run_id}/eval")
async def read_run_eval(run_id: uuid.UUID, ctx: Context, session: Session) -> dict[str, Any]:
    await registry.ensure_run_exists(session, run_id)
    relpath = await registry.read_eval_relpath(session, run_id)
    await session.close()  # release the connection before file I/O
    return await anyio.to_thread.run_sync(
        registry.read_eval, ctx.settings.artifacts, run_id, relpath
    )


@router.delete("/{run_id}", status_code=204)
async def delete_run(run_id: uuid.UUID, ctx: Context, session: Session) -> Response:
    """Delete a terminal run: rows first (committed), then its artifact directory."""
    await queue.delete_run(session, run_id)
    await session.commit()
    ctx.hub.publish_local(Notice("status", str(run_id)))
    run_dir = downloads.run_directory(ctx.settings.artifacts, run_id)
    # run_id is a parsed UUID, so run_dir is a direct child of the artifact root; a symlink
    # planted there is unlinked, never followed.
    if run_dir.is_symlink():
        run_dir.unlink()
    elif run_dir.exists():
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(run_dir, ignore_errors=True))
    if run_dir.exists():
        raise errors.Conflict(f"run {run_id} deleted but its files could not all be removed")
    return Response(status_code=204)
