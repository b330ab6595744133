"""Every database call has a deadline, and a connection left in an unknown state is dropped.

Engine level, on the real databases: the server-side settings are in force, a statement past
its deadline fails with errors.Unavailable instead of hanging, a killed or timed-out
connection never goes back to the pool, and a bulk COPY whose backend is killed mid-call
returns at once (asyncpg alone waits forever there).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests import pg
from tunix_rt import errors
from tunix_rt.db import bulk
from tunix_rt.db import engine as db_engine
from tunix_rt.db.models import Trace
from tunix_rt.db.types import utcnow
from tunix_rt.settings import Settings
from tunix_rt.traces import store

HANG_LIMIT_S = 30  # far above every deadline used here: reaching it means a call hung


def needs_postgres(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL connection behaviour")


@asynccontextmanager
async def engine_with(database_url: str, **kwargs: Any) -> AsyncIterator[AsyncEngine]:
    eng = db_engine.create_engine(database_url, **kwargs)
    try:
        yield eng
    finally:
        await eng.dispose()


async def backend_pid(eng: AsyncEngine) -> int:
    async with eng.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


def test_deadlines_follow_settings() -> None:
    settings = Settings(
        db_statement_timeout_s=12,
        db_idle_in_transaction_timeout_s=34,
        db_connect_timeout_s=5,
        db_pool_timeout_s=6,
        db_busy_timeout_s=7,
    )
    got = db_engine.Deadlines.from_settings(settings)
    assert got == db_engine.Deadlines(
        statement_s=12,
        command_s=12 + db_engine.COMMAND_GRACE_S,
        idle_in_transaction_s=34,
        connect_s=5,
        pool_s=6,
        busy_s=7,
    )
    # The engine's defaults are the settings' defaults.
    defaults = Settings.model_fields
    assert db_engine.Deadlines() == db_engine.Deadlines(
        statement_s=defaults["db_statement_timeout_s"].default,
        command_s=defaults["db_statement_timeout_s"].default + db_engine.COMMAND_GRACE_S,
        idle_in_transaction_s=defaults["db_idle_in_transaction_timeout_s"].default,
        connect_s=defaults["db_connect_timeout_s"].default,
        pool_s=defaults["db_pool_timeout_s"].default,
        busy_s=defaults["db_busy_timeout_s"].default,
    )


async def test_engine_applies_deadlines(backend: str, database_url: str) -> None:
    deadlines = db_engine.Deadlines(
        statement_s=1.5, command_s=3, idle_in_transaction_s=7, pool_s=4, busy_s=2.5
    )
    async with engine_with(database_url, deadlines=deadlines) as eng:
        assert eng.pool.timeout() == 4  # type: ignore[attr-defined]
        async with eng.connect() as conn:
            if backend == "sqlite":
                busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
                assert busy == 2500
                return
            statement = (await conn.exec_driver_sql("SHOW statement_timeout")).scalar_one()
            idle = (
                await conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout")
            ).scalar_one()
            assert (statement, idle) == ("1500ms", "7s")
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            assert driver._config.command_timeout == 3
            assert db_engine.command_deadline_s(conn) == 3


async def test_statement_past_server_deadline_fails_as_unavailable(
    backend: str, database_url: str
) -> None:
    needs_postgres(backend)
    async with engine_with(
        database_url, deadlines=db_engine.Deadlines(statement_s=0.5, command_s=20)
    ) as eng:
        start = time.monotonic()
        with pytest.raises(errors.Unavailable) as caught:
            async with eng.connect() as conn:
                await asyncio.wait_for(
                    conn.execute(text("SELECT pg_sleep(10)")), timeout=HANG_LIMIT_S
                )
        assert time.monotonic() - start < 5
        assert caught.value.details["reason"] == "database_deadline"
        assert "deadline" in caught.value.message


async def test_client_deadline_discards_the_connection(backend: str, database_url: str) -> None:
    """The server never answers in time (no server deadline): the client gives up, and the
    connection, whose state is unknown, is not handed out again."""
    needs_postgres(backend)
    deadlines = db_engine.Deadlines(statement_s=None, command_s=0.5)
    async with engine_with(
        database_url, deadlines=deadlines, pool_size=1, max_overflow=0, pool_pre_ping=False
    ) as eng:
        first = await backend_pid(eng)
        start = time.monotonic()
        with pytest.raises(errors.Unavailable) as caught:
            async with eng.connect() as conn:
                await asyncio.wait_for(
                    conn.execute(text("SELECT pg_sleep(10)")), timeout=HANG_LIMIT_S
                )
        assert time.monotonic() - start < 5
        assert caught.value.details["reason"] == "database_deadline"
        assert isinstance(caught.value.__cause__, TimeoutError)
        assert await backend_pid(eng) != first


async def test_killed_connection_is_discarded_not_pooled(backend: str, database_url: str) -> None:
    """Without pre-ping, only invalidation keeps a dead connection out of the pool."""
    needs_postgres(backend)
    async with engine_with(database_url, pool_size=1, max_overflow=0, pool_pre_ping=False) as eng:
        with pytest.raises(errors.Unavailable) as caught:
            async with eng.connect() as conn:
                pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                killer = await asyncpg.connect(pg.asyncpg_dsn(database_url))
                try:
                    assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
                finally:
                    await killer.close()
                await asyncio.sleep(0.2)
                await conn.execute(text("SELECT 1"))
        assert caught.value.details["reason"] == "database_unavailable"
        for _ in range(3):  # every later checkout gets a live connection
            assert await backend_pid(eng) != pid


async def test_copy_on_killed_connection_returns_at_once(backend: str, database_url: str) -> None:
    """asyncpg's copy_records_to_table never returns when its backend is killed mid-COPY."""
    needs_postgres(backend)
    async with engine_with(database_url, pool_size=2, max_overflow=0) as eng:
        sessions = db_engine.create_session_factory(eng)
        created_at = utcnow()
        rows = [
            store.encode_row(
                {
                    "trace_version": "1",
                    "prompt": f"p{i}",
                    "final_answer": "a",
                    "steps": [{"i": 0, "type": "t", "content": "x" * 2000}],
                    "meta": {"source": "copy-kill"},
                },
                trace_id,
                created_at,
            )
            for i, trace_id in enumerate(store.new_ids(20_000))
        ]
        dsn = pg.asyncpg_dsn(database_url)

        async def kill_soon() -> int:
            for _ in range(400):
                await asyncio.sleep(0.02)
                if killed := await pg.terminate_busy_backends(dsn):
                    return killed
            return 0

        killer = asyncio.create_task(kill_soon())
        start = time.monotonic()
        with pytest.raises(errors.Unavailable):
            async with sessions() as session:
                await asyncio.wait_for(
                    bulk.insert_rows(session, Trace.__table__, rows), timeout=HANG_LIMIT_S
                )
                await session.commit()
        assert await killer == 1
        assert time.monotonic() - start < 10
        async with sessions() as session:
            stored = await session.scalar(text("SELECT count(*) FROM traces"))
            await session.execute(text("SELECT 1"))
        assert stored == 0
