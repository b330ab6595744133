"""PostgreSQL connections killed under a running worker (pg_terminate_backend, mid-COPY
included): the worker recovers or gives up its lease cleanly; nothing hangs, the log stays
gap-free and whole, cancel still works and new runs are still claimed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests import pg
from tests.integration.worker_helpers import (
    Sessions,
    enqueue,
    wait_for_status,
    wait_terminal,
    worker_context,
)
from tunix_rt.db import engine as db_engine
from tunix_rt.db import models
from tunix_rt.runs import queue
from tunix_rt.settings import Settings
from tunix_rt.worker.loop import Worker
from tunix_rt.worker.reaper import Reaper

LINES = 300
KILL_FOR_S = 4.0


@pytest.fixture
async def short_deadline_engine(backend: str, database_url: str) -> AsyncIterator[AsyncEngine]:
    if backend != "postgresql":
        pytest.skip("killing server backends is a PostgreSQL fault")
    deadlines = db_engine.Deadlines(statement_s=3.0, command_s=5.0)
    eng = db_engine.create_engine(database_url, deadlines=deadlines)
    yield eng
    await eng.dispose()


async def keep_killing(dsn: str, stop: asyncio.Event) -> int:
    killed = 0
    while not stop.is_set():
        with contextlib.suppress(Exception):
            killed += await pg.terminate_busy_backends(dsn, limit=5)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    return killed


async def test_killed_connections_neither_hang_nor_lose_lines(
    settings: Settings, sessions: Sessions, short_deadline_engine: AsyncEngine
) -> None:
    worker_sessions = db_engine.create_session_factory(short_deadline_engine)
    fast = settings.model_copy(update={"lease_s": 8.0, "log_flush_interval_ms": 20})
    ctx = worker_context(fast, worker_sessions, "stream", str(LINES))
    worker, reaper = Worker(ctx), Reaper(ctx)
    run_id = await enqueue(sessions, max_attempts=3)
    reaper.start()
    worker.start()
    try:
        await wait_for_status(sessions, run_id, {"running"})
        stop = asyncio.Event()
        killer = asyncio.create_task(keep_killing(pg.asyncpg_dsn(settings.database_url), stop))
        await asyncio.sleep(KILL_FOR_S)
        stop.set()
        killed = await killer
        run = await asyncio.wait_for(wait_terminal(sessions, run_id, timeout_s=90), 100)
        # The worker is still healthy: a new run is claimed, and a cancel lands.
        second = await enqueue(sessions)
        ctx.settings = ctx.settings.model_copy(
            update={"worker_command": [*ctx.settings.worker_command[:2], "sleep", "60"]}
        )
        await wait_for_status(sessions, second, {"running"}, timeout_s=30)
        async with sessions() as session:
            await queue.request_cancel(session, second)
            await session.commit()
        cancelled = await wait_terminal(sessions, second, timeout_s=30)
    finally:
        await worker.stop(drain_timeout_s=0)
        await reaper.stop()
    assert killed > 0, "the fault never hit a busy connection"
    assert run.status == "completed", run.error
    assert cancelled.status == "cancelled"
    async with sessions() as session:
        texts = (
            await session.scalars(
                select(models.RunLogChunk.text)
                .where(models.RunLogChunk.run_id == run_id)
                .order_by(models.RunLogChunk.seq)
            )
        ).all()
        seqs = (
            await session.scalars(
                select(models.RunLogChunk.seq)
                .where(models.RunLogChunk.run_id == run_id)
                .order_by(models.RunLogChunk.seq)
            )
        ).all()
    assert list(seqs) == list(range(1, len(seqs) + 1))
    # The attempt that completed contributed every one of its lines, once, in order.
    assert list(texts[-LINES:]) == [f"line {i}" for i in range(LINES)]
    assert run.log_lines == len(seqs)
