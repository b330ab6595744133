"""A server that begins shutting down closes every log stream, also those that subscribe
after the shutdown notice went out (their request arrived just before it)."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests import run_rows
from tunix_rt.api import sse
from tunix_rt.api.context import AppContext
from tunix_rt.api.metrics import Metrics
from tunix_rt.runs.notify import Hub
from tunix_rt.settings import Settings

Sessions = async_sessionmaker[AsyncSession]
CLOSE_WITHIN_S = 2.0


async def test_subscriber_after_stopping_is_woken_at_once() -> None:
    hub = Hub()
    async with hub.subscribe("early") as early:
        hub.wake_all(sse.STOPPING)
        async with hub.subscribe("late") as late:
            assert await late.wait(0.1) and late.pop_kinds() == {sse.STOPPING}
        assert await early.wait(0.1) and early.pop_kinds() == {sse.STOPPING}


async def test_other_kinds_do_not_reach_later_subscribers() -> None:
    hub = Hub()
    hub.wake_all("reconnected")
    async with hub.subscribe("late") as late:
        assert not await late.wait(0.05)


async def test_stream_opened_after_stopping_closes_without_end(
    settings: Settings, engine: AsyncEngine, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="pending")
    ctx = AppContext(settings, engine, sessions, Hub(), Metrics())
    ctx.hub.wake_all(sse.STOPPING)

    async def read_stream() -> str:
        chunks = [c async for c in sse.stream_run(ctx, run_id, since_seq=0)]
        return "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)

    text = await asyncio.wait_for(read_stream(), CLOSE_WITHIN_S)
    assert "event: status" in text  # the first round was served
    assert "event: end" not in text  # the run is still pending: no false end
