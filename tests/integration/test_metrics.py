"""/metrics: cheap to scrape (no database work per scrape beyond one bounded refresh) and
still 200 with tunix_rt_db_up 0 when the database is away."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import run_rows
from tests.conftest import empty_tables
from tunix_rt.api.app import create_app
from tunix_rt.api.context import AppContext
from tunix_rt.api.telemetry import QueueTelemetry
from tunix_rt.db.types import utcnow
from tunix_rt.settings import Settings

Sessions = async_sessionmaker[AsyncSession]


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, AppContext]]:
    # A reaper pass now and then would add its own statements to the counts below.
    app = create_app(settings.model_copy(update={"reaper_interval_s": 3600}), migrate_db=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c, app.state.ctx


def telemetry_of(ctx: AppContext) -> QueueTelemetry:
    return next(s for s in ctx.services if isinstance(s, QueueTelemetry))


def sample(text: str, name: str) -> float | None:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unreachable_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'tunix.db'}"
    return f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/tunix"


async def test_metrics_answer_db_up_1_when_the_database_answers(
    settings: Settings, sessions: Sessions
) -> None:
    try:
        async with served(settings) as (client, _ctx):
            response = await client.get("/metrics")
        assert response.status_code == 200
        assert sample(response.text, "tunix_rt_db_up") == 1.0
    finally:
        await empty_tables(sessions.kw["bind"])


async def test_metrics_answer_200_with_db_up_0_when_the_database_is_down(
    settings: Settings, backend: str, tmp_path: Path
) -> None:
    down = settings.model_copy(update={"database_url": unreachable_url(backend, tmp_path)})
    async with served(down) as (client, ctx):
        first = await client.get("/metrics")
        telemetry_of(ctx).min_interval_s = 0  # ask the database again, not the cache
        second = await client.get("/metrics")
    for response in (first, second):
        assert response.status_code == 200, response.text
        assert sample(response.text, "tunix_rt_db_up") == 0.0
        assert sample(response.text, "tunix_rt_queue_depth") == 0.0


async def test_scrapes_in_a_burst_share_one_refresh(settings: Settings, sessions: Sessions) -> None:
    try:
        async with served(settings) as (client, ctx):
            statements: list[str] = []

            def record(*args: Any) -> None:
                sql = str(args[2])
                # The server's sweep controller and lease reaper poll on the same engine;
                # their statements are not /metrics'.
                if "sweeps" not in sql and "lease_expires_at <" not in sql:
                    statements.append(sql)

            event.listen(ctx.engine.sync_engine, "before_cursor_execute", record)
            try:
                first = await client.get("/metrics")
                one_refresh = len(statements)
                for _ in range(20):
                    assert (await client.get("/metrics")).status_code == 200
            finally:
                event.remove(ctx.engine.sync_engine, "before_cursor_execute", record)
        assert first.status_code == 200 and sample(first.text, "tunix_rt_db_up") == 1.0
        assert 0 < one_refresh <= 3, statements
        assert len(statements) == one_refresh, statements[one_refresh:]
        # Each statement is bounded: the live runs by status, or events by primary key.
        for sql in statements:
            assert "WHERE" in sql, sql
            assert "sum(" not in sql.lower() and "count(" not in sql.lower(), sql
    finally:
        await empty_tables(sessions.kw["bind"])


@pytest.mark.parametrize("reaped_reason", ["lease_expired"])
async def test_figures_follow_the_rows_written_after_the_baseline(
    settings: Settings, sessions: Sessions, reaped_reason: str
) -> None:
    try:
        await run_rows.insert_run(sessions, status="completed", log_lines=7)
        await run_rows.insert_run(sessions, status="failed", mode="sync")
        live_before = await run_rows.insert_run(sessions, status="running", worker_id="w1")
        await run_rows.add_lines(sessions, live_before, ["old"] * 4)
        async with served(settings) as (client, ctx):
            telemetry_of(ctx).min_interval_s = 0
            text = (await client.get("/metrics")).text
            assert sample(text, 'tunix_rt_runs{mode="async",status="completed"}') == 1.0
            assert sample(text, 'tunix_rt_runs{mode="sync",status="failed"}') == 1.0
            assert sample(text, 'tunix_rt_runs{mode="async",status="running"}') == 1.0
            assert sample(text, "tunix_rt_log_lines_ingested_total") == 0.0  # from the baseline

            await run_rows.add_lines(sessions, live_before, ["a", "b"])
            pending = await run_rows.insert_run(sessions, status="pending")
            # set_status leaves started_at alone: the claim below is when it started.
            quick = await run_rows.insert_run(sessions, status="pending", started_at=utcnow())
            await run_rows.set_status(sessions, quick, "running")
            await run_rows.add_lines(sessions, quick, ["x"] * 5)
            await run_rows.set_status(sessions, quick, "completed")
            text = (await client.get("/metrics")).text
            assert sample(text, 'tunix_rt_runs{mode="async",status="completed"}') == 2.0
            assert sample(text, 'tunix_rt_runs{mode="async",status="pending"}') == 1.0
            assert sample(text, "tunix_rt_queue_depth") == 1.0
            assert sample(text, "tunix_rt_log_lines_ingested_total") == 7.0
            assert sample(text, 'tunix_rt_run_duration_seconds_count{status="completed"}') == 1.0
            assert sample(text, "tunix_rt_enqueue_to_claim_seconds_count") == 1.0

            await run_rows.add_lines(sessions, live_before, ["c"])
            await run_rows.set_status(sessions, live_before, "pending", reason=reaped_reason)
            await run_rows.set_status(sessions, pending, "cancelled")
            text = (await client.get("/metrics")).text
            assert sample(text, "tunix_rt_lease_expiries_total") == 1.0
            assert sample(text, 'tunix_rt_runs{mode="async",status="pending"}') == 1.0
            assert sample(text, 'tunix_rt_runs{mode="async",status="cancelled"}') == 1.0
            assert sample(text, 'tunix_rt_runs{mode="async",status="running"}') is None
            assert sample(text, "tunix_rt_queue_depth") == 1.0
            assert sample(text, "tunix_rt_log_lines_ingested_total") == 8.0
    finally:
        await empty_tables(sessions.kw["bind"])
