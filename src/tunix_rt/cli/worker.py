"""`tunix-rt worker`: standalone workers against TUNIX_RT_DATABASE_URL.

SIGTERM or Ctrl-C drains: the workers stop claiming, the current runs get up to
TUNIX_RT_DRAIN_TIMEOUT_S to finish, then their children are stopped and the runs go back
to pending (the attempt not counted). A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from typing import Any

import typer

from tunix_rt.cli.output import command, console
from tunix_rt.settings import Settings, load_settings


def register(app: typer.Typer) -> None:
    """Add the `worker` command to the root app."""
    app.command("worker")(worker)


@command
def worker(
    concurrency: int = typer.Option(
        1, "--concurrency", "-c", min=1, max=64, help="Runs to execute at once."
    ),
) -> None:
    """Claim and execute queued runs until SIGTERM (drains gracefully)."""
    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    console.print(
        f"tunix-rt worker: {concurrency} slot(s) on {settings.database_kind}", highlight=False
    )
    asyncio.run(run_workers(settings, concurrency))


async def run_workers(settings: Settings, concurrency: int) -> None:
    from tunix_rt.db import engine as db_engine
    from tunix_rt.runs.notify import Hub
    from tunix_rt.sweeps.controller import SweepController
    from tunix_rt.worker.attempt import WorkerContext
    from tunix_rt.worker.loop import Worker, make_worker_id
    from tunix_rt.worker.reaper import Reaper

    settings.artifacts.mkdir(parents=True, exist_ok=True)
    # No pre-ping: every worker database call already retries through a lost connection, and
    # a ping per checkout costs a round trip on the claim path.
    kwargs: dict[str, Any] = (
        {"pool_pre_ping": False} if settings.database_kind == "postgresql" else {}
    )
    # A worker's transactions are milliseconds long. One left open longer than a lease is a
    # worker frozen mid-transaction (a paused VM): PostgreSQL ends it, so the lock it holds
    # on its run row cannot stop the reaper from handing the run on.
    deadlines = dataclasses.replace(
        db_engine.Deadlines.from_settings(settings),
        idle_in_transaction_s=min(settings.db_idle_in_transaction_timeout_s, settings.lease_s),
    )
    engine = db_engine.create_engine(settings.database_url, deadlines=deadlines, **kwargs)
    hub = Hub()
    await hub.start(settings.database_url)
    ctx = WorkerContext(
        settings=settings, sessions=db_engine.create_session_factory(engine), hub=hub
    )
    workers = [Worker(ctx, worker_id=make_worker_id(i)) for i in range(concurrency)]
    reaper = Reaper(ctx)
    sweeps = SweepController(settings, ctx.sessions, hub)  # any process may advance sweeps
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        stop.set()
        if signals > 1:  # second signal: do not wait for the drain
            for w in workers:
                if w.current is not None:
                    w.current.request_stop("drain")

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        reaper.start()
        await sweeps.start()
        for w in workers:
            w.start()
        await stop.wait()
        await asyncio.gather(*(w.stop() for w in workers))
    finally:
        await sweeps.stop()
        await reaper.stop()
        await hub.stop()
        await engine.dispose()
