"""Routes: submit a run (async or sync), cancel it, retry it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.api.deps import Context, Session
from tunix_rt.datasets import store as dataset_store
from tunix_rt.db import models
from tunix_rt.runs import init_source, labels, materialize, queue, states
from tunix_rt.runs.schema import RunOut, RunRequest, root_labels
from tunix_rt.settings import Settings

router = APIRouter(prefix="/api/tunix", tags=["runs"])

DEFAULT_WAIT_S = 30.0
MAX_WAIT_S = 300.0


async def _run_out(session: AsyncSession, run: models.Run, settings: Settings) -> RunOut:
    tags = await labels.read_run_tags(session, run.id)
    return RunOut.from_model(run, tags).hiding_roots(root_labels(settings))


async def _respond(
    session: AsyncSession, run: models.Run, settings: Settings, status_code: int
) -> JSONResponse:
    out = await _run_out(session, run, settings)
    return JSONResponse(out.model_dump(mode="json"), status_code=status_code)


@router.post(
    "/run",
    response_model=RunOut,
    status_code=202,
    responses={200: {"model": RunOut, "description": "sync mode: the run finished in time"}},
)
async def create_run(
    request: RunRequest,
    ctx: Context,
    session: Session,
    mode: Literal["async", "sync"] = Query("async"),
    wait_s: float = Query(DEFAULT_WAIT_S, ge=0, le=MAX_WAIT_S),
) -> JSONResponse:
    """Queue a training run. sync waits up to wait_s for a terminal state (200), else 202."""
    await dataset_store.read_dataset(session, request.dataset_key)
    if request.model_path is not None:
        # Path under a model root; a config.json checked against the safetensors headers.
        materialize.check_model_request(ctx.settings, request)
    # init_from: a training run's checkpoint, resolved to a step now and pinned with the run.
    await init_source.resolve_init_from(session, request)
    run, notice = await queue.enqueue_run(
        session,
        request,
        mode=mode,
        default_timeout_s=ctx.settings.default_timeout_s,
        default_max_attempts=ctx.settings.default_max_attempts,
    )
    await init_source.pin_init_checkpoint(session, run, request)
    run_id = run.id
    if mode == "async":
        await session.commit()
        ctx.hub.publish_local(notice)
        return await _respond(session, run, ctx.settings, 202)
    # Subscribe before committing so the terminal notice cannot slip past us.
    async with ctx.hub.subscribe(run_id) as sub:
        await session.commit()
        ctx.hub.publish_local(notice)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        poll = max(ctx.settings.poll_interval_s, 0.05)
        while True:
            run = await queue.read_run(session, run_id)
            await session.commit()  # end the read transaction so the next read sees new rows
            left = deadline - loop.time()
            if run.status in states.TERMINAL or left <= 0:
                break
            await sub.wait(min(left, poll * 10))
    return await _respond(session, run, ctx.settings, 200 if run.status in states.TERMINAL else 202)


@router.post("/runs/{run_id}/cancel", response_model=RunOut)
async def cancel_run(run_id: uuid.UUID, ctx: Context, session: Session) -> RunOut:
    """pending -> cancelled; running -> cancel_requested (the worker stops the child)."""
    run, notice = await queue.request_cancel(session, run_id)
    await session.commit()
    if notice is not None:
        ctx.hub.publish_local(notice)
    return await _run_out(session, run, ctx.settings)


@router.post("/runs/{run_id}/retry", response_model=RunOut, status_code=202)
async def retry_run(run_id: uuid.UUID, ctx: Context, session: Session) -> JSONResponse:
    """A new run with the same request, resuming from the old run's latest checkpoint."""
    old = await queue.read_run(session, run_id)
    if old.status not in states.RETRYABLE:
        raise errors.Conflict(
            f"run {run_id} is {old.status}; only failed, cancelled or timeout runs can be retried",
            status=old.status,
        )
    fields = {k: v for k, v in old.request.items() if k != "retry_of"}
    try:
        request = RunRequest.model_validate(fields)
    except ValueError as exc:
        raise errors.ValidationFailed(f"the old run's request is no longer valid: {exc}") from exc
    await dataset_store.read_dataset(session, request.dataset_key)
    await init_source.resolve_init_from(session, request)
    run, notice = await queue.enqueue_run(
        session,
        request,
        mode="async",
        default_timeout_s=old.timeout_s,
        default_max_attempts=old.max_attempts,
        retry_of=old.id,
    )
    await init_source.pin_init_checkpoint(session, run, request)
    await session.commit()
    ctx.hub.publish_local(notice)
    return await _respond(session, run, ctx.settings, 202)
