"""Routes: hyper-parameter sweeps (create, read, list, cancel, live progress, parameter
importance, pin the best trial's checkpoint). Handlers never advance a sweep: the sweep
controller does (sweeps/controller.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from tunix_rt.api import sse
from tunix_rt.api.context import AppContext
from tunix_rt.api.deps import Context, Session
from tunix_rt.runs import init_source
from tunix_rt.sweeps import search, store
from tunix_rt.sweeps.schema import (
    ImportanceOut,
    PinBestOut,
    SweepCreated,
    SweepList,
    SweepOut,
    SweepRequest,
)

router = APIRouter(prefix="/api/sweeps", tags=["sweeps"])

PROGRESS_RECHECK_S = 1.0
PROGRESS_MIN_GAP_S = 0.25
PROGRESS_KINDS = frozenset({"status", "metric", "enqueued", "sweep"})


async def pin_start_checkpoint(session: Session, request: SweepRequest) -> None:
    """A base init_from is checked and its checkpoint resolved to a step now, in the stored
    base, so every trial starts from the same weights (each trial pins it when queued)."""
    first = request.trial_request({})
    if first.init_from is None:
        return
    await init_source.resolve_init_from(session, first)
    request.base["init_from"] = first.init_from.model_dump(mode="json")
    request.base["model_id"] = first.model_id


@router.post("", response_model=SweepCreated, status_code=202)
async def create_sweep(request: SweepRequest, ctx: Context, session: Session) -> SweepCreated:
    """Start a sweep: trials are asked from Optuna and run on the queue by the controller."""
    await pin_start_checkpoint(session, request)
    sweep = await store.create_sweep(session, request)
    await session.commit()
    ctx.hub.wake_all("sweep")  # the controller in this process asks the first trials now
    return SweepCreated(sweep_id=sweep.id, status=sweep.status)


@router.get("", response_model=SweepList)
async def list_sweeps(
    session: Session,
    status: Literal["running", "completed", "cancelled", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=store.MAX_LIST_LIMIT)] = 50,
) -> SweepList:
    return SweepList(sweeps=await store.list_sweeps(session, status=status, limit=limit))


@router.get("/{sweep_id}", response_model=SweepOut)
async def read_sweep(sweep_id: uuid.UUID, session: Session) -> SweepOut:
    """The sweep with every trial (params, state, value, intermediate values) and the best."""
    return await store.sweep_out(session, await store.read_sweep(session, sweep_id))


@router.post("/{sweep_id}/cancel", response_model=SweepOut)
async def cancel_sweep(sweep_id: uuid.UUID, ctx: Context, session: Session) -> SweepOut:
    """Cancel the sweep and its pending and running trials (409 once it has ended)."""
    notices = await store.cancel_sweep(session, sweep_id)
    await session.commit()
    for notice in notices:
        ctx.hub.publish_local(notice)
    ctx.hub.wake_all("sweep")  # progress streams in this process see the end at once
    return await store.sweep_out(session, await store.read_sweep(session, sweep_id))


@router.get("/{sweep_id}/importance", response_model=ImportanceOut)
async def read_importance(sweep_id: uuid.UUID, session: Session) -> ImportanceOut:
    """Parameter importances (Optuna's PED-ANOVA) over the completed trials; needs at least
    two."""
    sweep = await store.read_sweep(session, sweep_id)
    trials = await store.load_trials(session, sweep)
    request = store.request_of(sweep)
    completed = sum(1 for t in trials if t.record.state == "complete")
    if completed < search.MIN_TRIALS_FOR_IMPORTANCE:
        return ImportanceOut(
            sweep_id=sweep_id,
            available=False,
            importances={},
            completed_trials=completed,
            message=(
                f"parameter importance needs at least {search.MIN_TRIALS_FOR_IMPORTANCE} "
                f"completed trials; this sweep has {completed}"
            ),
        )
    records = [t.record for t in trials]

    def compute() -> dict[str, float]:
        study = search.build_study(f"sweep-{sweep_id}", request, store.seed_of(sweep), records)
        return search.param_importances(study)

    try:
        importances = await asyncio.to_thread(compute)
    except (RuntimeError, ValueError, ImportError) as exc:
        return ImportanceOut(
            sweep_id=sweep_id,
            available=False,
            importances={},
            completed_trials=completed,
            message=f"parameter importance is not available: {exc}",
        )
    return ImportanceOut(
        sweep_id=sweep_id, available=True, importances=importances, completed_trials=completed
    )


@router.post("/{sweep_id}/pin-best", response_model=PinBestOut)
async def pin_best(sweep_id: uuid.UUID, session: Session) -> PinBestOut:
    """Pin the best trial's best checkpoint (else its latest) against retention."""
    pinned = await store.pin_best(session, sweep_id)
    await session.commit()
    return pinned


@router.get(
    "/{sweep_id}/events",
    status_code=200,
    response_class=sse.EventStreamResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_sweep(sweep_id: uuid.UUID, ctx: Context) -> sse.EventStreamResponse:
    """SSE: a `sweep` event (the whole sweep, as GET returns it) whenever it changes,
    `heartbeat` while idle, and `end` with the final status once the sweep has ended."""
    async with ctx.sessions() as session:
        await store.read_sweep(session, sweep_id)
    return sse.EventStreamResponse(_progress(ctx, sweep_id), sse.stream_headers())


async def _progress(ctx: AppContext, sweep_id: uuid.UUID) -> AsyncGenerator[str, None]:
    loop = asyncio.get_running_loop()
    last: str | None = None
    last_sent = loop.time()
    async with ctx.hub.subscribe(None) as sub:
        while True:
            async with ctx.sessions() as session:
                out = await store.sweep_out(session, await store.read_sweep(session, sweep_id))
            body = out.model_dump_json()
            if body != last:
                last, last_sent = body, loop.time()
                yield sse.format_event("sweep", out.model_dump(mode="json"))
            if out.status != store.RUNNING:
                yield sse.format_event("end", {"status": out.status})
                return
            if loop.time() - last_sent >= ctx.settings.sse_heartbeat_s:
                last_sent = loop.time()
                yield sse.format_event("heartbeat", {})
            # Log lines of every run wake the hub too: re-read at most every MIN_GAP_S, at
            # once on a trial's status or metric, else every PROGRESS_RECHECK_S.
            await asyncio.sleep(PROGRESS_MIN_GAP_S)
            deadline = loop.time() + PROGRESS_RECHECK_S
            while (left := deadline - loop.time()) > 0:
                if not await sub.wait(left):
                    break
                kinds = sub.pop_kinds()
                if sse.STOPPING in kinds:
                    return
                if kinds & PROGRESS_KINDS:
                    break
