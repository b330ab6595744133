"""What a client sees when the database cannot serve it: 503, a clear JSON message and
Retry-After, never a hang or a 500; nothing partial is stored; the server recovers.

The app runs with short database deadlines (Settings -> Deadlines), on both databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import pg
from tests.conftest import empty_tables
from tests.integration.test_traces_api import make_payload
from tunix_rt.api.app import create_app
from tunix_rt.api.routes import traces as trace_routes
from tunix_rt.db import engine as db_engine
from tunix_rt.db.models import Trace
from tunix_rt.settings import Settings

HANG_LIMIT_S = 60  # far above every deadline here: a request still open then has hung


@asynccontextmanager
async def deadline_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its engine built from `settings`' database deadlines."""
    app = create_app(settings, migrate_db=False)
    async with app.router.lifespan_context(app):
        ctx = app.state.ctx
        default_engine = ctx.engine
        ctx.engine = db_engine.create_engine(
            settings.database_url, deadlines=db_engine.Deadlines.from_settings(settings)
        )
        ctx.sessions = db_engine.create_session_factory(ctx.engine)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", timeout=HANG_LIMIT_S
            ) as client:
                yield client
        finally:
            await ctx.engine.dispose()
            ctx.engine = default_engine
    eng = db_engine.create_engine(settings.database_url)
    try:
        await empty_tables(eng)
    finally:
        await eng.dispose()


async def timed(call: Any) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    res = await asyncio.wait_for(call, timeout=HANG_LIMIT_S)
    return res, time.monotonic() - start


def assert_unavailable(res: httpx.Response) -> dict[str, Any]:
    assert res.status_code == 503, res.text
    assert int(res.headers["Retry-After"]) >= 1
    body: dict[str, Any] = res.json()
    assert body["reason"] in {"database_busy", "database_deadline", "database_unavailable"}
    assert "retry" in body["detail"]
    return body


async def count_traces(sessions: async_sessionmaker[AsyncSession], **where: str) -> int:
    stmt = select(func.count()).select_from(Trace)
    for column, value in where.items():
        stmt = stmt.where(getattr(Trace, column) == value)
    async with sessions() as session:
        return int(await session.scalar(stmt) or 0)


@asynccontextmanager
async def write_lock_held(database_url: str) -> AsyncIterator[None]:
    """Another client holds the write lock on traces: SQLite's database lock (BEGIN
    IMMEDIATE), PostgreSQL's EXCLUSIVE table lock (reads still pass)."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    pconn = await asyncpg.connect(pg.asyncpg_dsn(database_url))
    tx = pconn.transaction()
    await tx.start()
    await pconn.execute("LOCK TABLE traces IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        await tx.rollback()
        await pconn.close()


async def test_write_behind_a_held_lock_answers_503_within_the_deadline(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    deadline_s = 1.0
    settings = settings.model_copy(
        update={"db_busy_timeout_s": deadline_s, "db_statement_timeout_s": deadline_s}
    )
    async with deadline_client(settings) as client:
        async with write_lock_held(settings.database_url):
            res, took = await timed(
                client.post("/api/traces/generate", json={"task": "addition", "count": 50})
            )
            assert_unavailable(res)
            assert took < deadline_s + 4
            res, took = await timed(client.post("/api/traces/batch", json=[make_payload(1)]))
            assert_unavailable(res)
            assert took < deadline_s + 4
            listed = await client.get("/api/traces")  # readers are not blocked
            assert listed.status_code == 200, listed.text
        assert await count_traces(sessions) == 0
        res = await client.post("/api/traces/generate", json={"task": "addition", "count": 50})
        assert res.status_code == 201, res.text
        assert res.json()["created"] == 50
        assert await count_traces(sessions) == 50


async def test_generate_commits_in_chunks_letting_other_writers_in(
    backend: str,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another SQLite writer gets the lock while a long generate is still running (before,
    the generate held it from its first row to its last, 100,000 rows)."""
    if backend != "sqlite":
        pytest.skip("SQLite's single writer")
    monkeypatch.setattr(trace_routes, "GENERATE_CHUNK", 500)
    total = 5_000
    path = settings.database_url.split(":///", 1)[1]
    seen: dict[str, int] = {}
    done = threading.Event()

    def other_writer() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            while not done.is_set():
                stored = conn.execute("SELECT count(*) FROM traces").fetchone()[0]
                if 0 < stored < total:
                    conn.execute("BEGIN IMMEDIATE")
                    seen["locked_at"] = conn.execute("SELECT count(*) FROM traces").fetchone()[0]
                    conn.execute("ROLLBACK")
                    return
                time.sleep(0.005)
        finally:
            conn.close()

    async with deadline_client(settings) as client:
        thread = threading.Thread(target=other_writer)
        thread.start()
        try:
            res, _ = await timed(
                client.post("/api/traces/generate", json={"task": "addition", "count": total})
            )
        finally:
            done.set()
            await asyncio.to_thread(thread.join)
        assert res.status_code == 201, res.text
        assert 0 < seen.get("locked_at", 0) < total, "no other writer got in during the generate"
        assert await count_traces(sessions) == total


async def test_generate_that_fails_midway_says_what_it_kept(
    backend: str,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A writer takes SQLite's lock between two chunks and keeps it past the busy timeout:
    the generate answers 503, and since the lock also blocks removing its earlier chunks,
    the body says exactly how many traces stayed."""
    if backend != "sqlite":
        pytest.skip("SQLite's single writer")
    monkeypatch.setattr(trace_routes, "GENERATE_CHUNK", 1_000)
    total = 6_000
    settings = settings.model_copy(update={"db_busy_timeout_s": 0.5})
    path = settings.database_url.split(":///", 1)[1]
    done = threading.Event()

    def lock_between_chunks() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            while not done.is_set():
                if 0 < conn.execute("SELECT count(*) FROM traces").fetchone()[0] < total:
                    conn.execute("BEGIN IMMEDIATE")
                    done.wait(timeout=20)
                    conn.execute("ROLLBACK")
                    return
                time.sleep(0.005)
        finally:
            conn.close()

    async with deadline_client(settings) as client:
        thread = threading.Thread(target=lock_between_chunks)
        thread.start()
        try:
            res, _ = await timed(
                client.post("/api/traces/generate", json={"task": "addition", "count": total})
            )
        finally:
            done.set()
            await asyncio.to_thread(thread.join)
        body = assert_unavailable(res)
        assert 0 < body["stored"] < total
        assert f"{body['stored']} traces committed before the failure" in body["detail"]
        assert await count_traces(sessions) == body["stored"]


async def test_generate_removes_its_chunks_when_its_connection_is_killed(
    backend: str, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    if backend != "postgresql":
        pytest.skip("pg_terminate_backend")
    total = 30_000
    dsn = pg.asyncpg_dsn(settings.database_url)
    killed: list[int] = []

    async def kill_after_first_chunk() -> None:
        while True:
            stored = await count_traces(sessions)
            if 0 < stored < total and (n := await pg.terminate_busy_backends(dsn)):
                killed.append(n)
                return
            await asyncio.sleep(0.01)

    async with deadline_client(settings) as client:
        killer = asyncio.create_task(kill_after_first_chunk())
        try:
            res, _ = await timed(
                client.post("/api/traces/generate", json={"task": "addition", "count": total})
            )
        finally:
            killer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await killer
        assert killed, "the generate ended before a chunk could be interrupted"
        body = assert_unavailable(res)
        assert "stored" not in body
        assert await count_traces(sessions) == 0
        res = await client.post("/api/traces/generate", json={"task": "addition", "count": 10})
        assert res.status_code == 201, res.text


async def test_killed_batch_connections_answer_503_and_store_nothing_partial(
    backend: str, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Trace batches (COPY) whose backends are killed mid-transaction, over and over: every
    request answers, none hangs, each batch is stored whole or not at all, and afterwards
    the pool serves normally."""
    if backend != "postgresql":
        pytest.skip("pg_terminate_backend")
    batches, batch_size = 30, 800
    settings = settings.model_copy(update={"db_statement_timeout_s": 10.0})
    dsn = pg.asyncpg_dsn(settings.database_url)
    statuses: dict[int, int] = {}
    kills = 0

    async with deadline_client(settings) as client:
        gate = asyncio.Semaphore(6)

        async def post(index: int) -> None:
            items = [
                make_payload(
                    n,
                    meta={"source": f"batch-{index}"},
                    steps=[{"i": 0, "type": "reasoning", "content": f"{n} " * 400}],
                )
                for n in range(batch_size)
            ]
            async with gate:
                res, _ = await timed(client.post("/api/traces/batch", json=items))
            assert res.status_code in (201, 503), res.text
            if res.status_code == 503:
                assert_unavailable(res)
            statuses[index] = res.status_code

        posting = asyncio.Event()

        async def killer() -> None:
            nonlocal kills
            while posting.is_set():
                kills += await pg.terminate_busy_backends(dsn)
                await asyncio.sleep(0.05)

        posting.set()
        kill_task = asyncio.create_task(killer())
        try:
            await asyncio.wait_for(
                asyncio.gather(*(post(i) for i in range(batches))), timeout=HANG_LIMIT_S * 2
            )
        finally:
            posting.clear()
            await kill_task  # a kill sent as the posts end must not hit the checks below
        assert kills > 0
        assert len(statuses) == batches
        assert 503 in statuses.values()
        for index, status in statuses.items():
            stored = await count_traces(sessions, source=f"batch-{index}")
            assert stored == (batch_size if status == 201 else 0), (index, status, stored)
        for n in range(12):  # more than the pool's connections: each one is alive
            assert (await client.get("/api/traces")).status_code == 200
            res = await client.post("/api/traces", json=make_payload(n))
            assert res.status_code == 201, res.text


async def test_database_down_answers_503_not_500(backend: str, settings: Settings) -> None:
    if backend != "postgresql":
        pytest.skip("a PostgreSQL server that is not there")
    settings = settings.model_copy(update={"db_connect_timeout_s": 2.0})
    async with deadline_client(settings) as client:
        app_ctx = client._transport.app.state.ctx  # type: ignore[attr-defined]
        await app_ctx.engine.dispose()
        app_ctx.engine = db_engine.create_engine(
            f"postgresql+asyncpg://postgres@127.0.0.1:{pg._free_port()}/nowhere",
            deadlines=db_engine.Deadlines.from_settings(settings),
        )
        app_ctx.sessions = db_engine.create_session_factory(app_ctx.engine)
        for call in (client.get("/api/traces"), client.post("/api/traces", json=make_payload())):
            res, took = await timed(call)
            body = assert_unavailable(res)
            assert body["reason"] == "database_unavailable"
            assert "cannot reach the database" in body["detail"]
            assert took < 5
