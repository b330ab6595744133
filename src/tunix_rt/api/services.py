"""Background services a server runs beside the API: embedded workers, the lease reaper, the
sweep controller and the queue telemetry behind /metrics."""

from __future__ import annotations

import logging

from tunix_rt.api.context import AppContext
from tunix_rt.api.telemetry import QueueTelemetry
from tunix_rt.sweeps.controller import SweepController
from tunix_rt.worker.context import WorkerContext
from tunix_rt.worker.loop import Worker, make_worker_id
from tunix_rt.worker.reaper import Reaper

log = logging.getLogger(__name__)


async def start_server_services(ctx: AppContext, *, embedded_workers: int) -> None:
    """Start embedded workers and the reaper; they are appended to ctx.services."""
    wctx = WorkerContext(
        settings=ctx.settings,
        sessions=ctx.sessions,
        hub=ctx.hub,
        on_fenced=ctx.metrics.fenced_writes.inc,
    )
    telemetry = QueueTelemetry(ctx.sessions, ctx.metrics)
    try:
        await telemetry.init_baseline()
    except Exception as exc:  # the database may be down at start: the first scrape retries
        log.warning("metrics baseline unavailable: %s", exc)
    ctx.metrics_refreshers.append(telemetry.refresh)
    ctx.services.append(telemetry)
    reaper = Reaper(wctx)
    reaper.start()
    ctx.services.append(reaper)
    sweeps = SweepController(ctx.settings, ctx.sessions, ctx.hub)
    await sweeps.start()
    ctx.services.append(sweeps)
    for index in range(embedded_workers):
        worker = Worker(wctx, worker_id=make_worker_id(index))
        worker.start()
        ctx.services.append(worker)


async def stop_server_services(ctx: AppContext) -> None:
    for svc in reversed(ctx.services):
        await svc.stop()
    ctx.services.clear()
