"""Fencing: an attempt that lost its run writes nothing the new attempt's readers see.

Both databases. A real `tunix-rt worker` process is frozen (SIGSTOP) past its lease while
its child keeps producing; the run is reaped and finished by a second worker; the frozen
worker is then woken. And: the database unreachable (locked) for longer than the lease makes
the worker stop its child itself, before any reaper acts, and the run resumes exactly once.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from sqlalchemy import select

from tests.integration.test_worker_processes import WorkerProcs
from tests.integration.worker_helpers import (
    Sessions,
    attempt_dir,
    child_command,
    enqueue,
    pid_alive,
    wait_for_file,
    wait_for_status,
    wait_pid_gone,
    wait_terminal,
    worker_context,
)
from tunix_rt.db import models
from tunix_rt.runs import queue
from tunix_rt.settings import Settings
from tunix_rt.worker.loop import Worker
from tunix_rt.worker.reaper import Reaper

LEASE_S = 3.0


@pytest.fixture
def procs(settings: Settings) -> Iterator[list[WorkerProcs]]:
    made: list[WorkerProcs] = []
    yield made
    for group in made:
        for proc in group.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
        group.stop()


@asynccontextmanager
async def worker_and_reaper(settings: Settings, sessions: Sessions) -> AsyncIterator[Worker]:
    ctx = worker_context(settings, sessions, "tagged", "40")
    worker, reaper = Worker(ctx), Reaper(ctx)
    reaper.start()
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop(drain_timeout_s=0)
        await reaper.stop()


async def in_transaction_elsewhere(settings: Settings) -> bool:
    """Does another process hold an open transaction on the test database?"""
    url = settings.database_url
    if url.startswith("sqlite"):

        def try_lock() -> bool:
            conn = sqlite3.connect(url.split("///", 1)[1], timeout=0.2, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError:
                return True
            finally:
                conn.close()

        return await asyncio.to_thread(try_lock)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        busy = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        )
    finally:
        await conn.close()
    return bool(busy)


async def freeze_between_transactions(proc: subprocess.Popen[bytes], settings: Settings) -> None:
    for _ in range(100):
        proc.send_signal(signal.SIGSTOP)
        await asyncio.sleep(0.05)
        if not await in_transaction_elsewhere(settings):
            return
        proc.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.02)
    raise AssertionError("the worker was always inside a transaction")


async def run_history(sessions: Sessions, run_id: uuid.UUID) -> dict[str, object]:
    async with sessions() as session:
        lines = (
            await session.execute(
                select(models.RunLogChunk.seq, models.RunLogChunk.text)
                .where(models.RunLogChunk.run_id == run_id)
                .order_by(models.RunLogChunk.seq)
            )
        ).all()
        metrics = (
            await session.execute(
                select(models.RunMetric.step, models.RunMetric.value).where(
                    models.RunMetric.run_id == run_id, models.RunMetric.name == "loss"
                )
            )
        ).all()
        arts = (
            await session.scalars(
                select(models.RunArtifact).where(models.RunArtifact.run_id == run_id)
            )
        ).all()
        events = (
            await session.scalars(
                select(models.RunEvent)
                .where(models.RunEvent.run_id == run_id)
                .order_by(models.RunEvent.id)
            )
        ).all()
    return {"lines": lines, "metrics": metrics, "artifacts": arts, "events": events}


async def test_frozen_worker_woken_after_reclaim_writes_nothing(
    settings: Settings, sessions: Sessions, procs: list[WorkerProcs]
) -> None:
    run_id = await enqueue(sessions, max_attempts=3)
    stale = WorkerProcs(settings, child_command("tagged"), TUNIX_RT_LEASE_S=str(LEASE_S))
    procs.append(stale)
    stale.start(1)
    first_child = int(await wait_for_file(attempt_dir(settings, run_id, 1) / "child.pid", 30))
    await wait_for_status(sessions, run_id, {"running"})
    await asyncio.sleep(1.0)  # some lines, metrics and a checkpoint of attempt 1 are stored
    # Its child goes on producing meanwhile. Frozen between two transactions: one frozen
    # inside a transaction would hold a lock (SQLite has no cure for that; PostgreSQL
    # ends it after the worker's idle-in-transaction deadline, see cli/worker.py).
    await freeze_between_transactions(stale.procs[0], settings)
    fast = settings.model_copy(update={"lease_s": LEASE_S})
    async with worker_and_reaper(fast, sessions):
        await wait_for_file(attempt_dir(settings, run_id, 2) / "child.pid", 30)
        await asyncio.sleep(0.5)
        # Wake the stale worker while attempt 2 is mid-way: it has a backlog of attempt 1's
        # lines, metrics and checkpoints to write, and must write none of them.
        stale.procs[0].send_signal(signal.SIGCONT)
        assert await wait_pid_gone(first_child, timeout_s=10), "stale child kept running"
        run = await wait_terminal(sessions, run_id, timeout_s=60)
    assert run.status == "completed" and run.fence == 2 and run.attempt == 2
    history = await run_history(sessions, run_id)
    lines = history["lines"]
    assert isinstance(lines, list)
    seqs = [seq for seq, _ in lines]
    assert seqs == list(range(1, len(seqs) + 1))  # gap-free
    tags = [text.split()[1] for _, text in lines if text.startswith("attempt ")]
    first_of_2 = tags.index("2")
    assert set(tags[:first_of_2]) == {"1"} and set(tags[first_of_2:]) == {"2"}
    steps_2 = [int(text.split()[3]) for _, text in lines if text.startswith("attempt 2 ")]
    assert steps_2 == list(range(1, 41))  # every line of the new attempt, once, in order
    metrics = dict(history["metrics"])  # type: ignore[arg-type]
    # One loss value per step, and for every step attempt 2 wrote, it is attempt 2's.
    assert all(metrics[step] == 2000 + step for step in range(1, 41))
    assert run.eval is not None and run.eval["attempt"] == 2
    arts = history["artifacts"]
    assert isinstance(arts, list)
    names = [a.name for a in arts]
    assert len(names) == len(set(names))
    for art in arts:
        if art.name in ("eval.json", "spec.json", "logs/output.log"):
            assert art.relpath == f"attempts/2/{art.name}"
    # The stale worker's own log says what happened; it is still alive and serving.
    assert stale.procs[0].poll() is None


async def _lock_database(settings: Settings, hold_s: float, locked: asyncio.Event) -> None:
    """Hold the runs table (PostgreSQL) or the database's write lock (SQLite) for hold_s."""
    url = settings.database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        loop = asyncio.get_running_loop()

        def hold() -> None:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            try:
                conn.execute("BEGIN EXCLUSIVE")
                loop.call_soon_threadsafe(locked.set)
                time.sleep(hold_s)
                conn.execute("COMMIT")
            finally:
                conn.close()

        await asyncio.to_thread(hold)
        return
    dsn = url.replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
            locked.set()
            await asyncio.sleep(hold_s)
    finally:
        await conn.close()


async def test_database_away_longer_than_lease_stops_child_and_run_resumes_once(
    settings: Settings, sessions: Sessions
) -> None:
    run_id = await enqueue(sessions, max_attempts=3)
    fast = settings.model_copy(update={"lease_s": LEASE_S, "heartbeat_interval_s": 0.5})
    async with worker_and_reaper(fast, sessions):
        child = int(await wait_for_file(attempt_dir(settings, run_id, 1) / "child.pid", 30))
        await wait_for_status(sessions, run_id, {"running"})
        await asyncio.sleep(0.8)
        locked = asyncio.Event()
        hold_s = LEASE_S + 2.0
        holder = asyncio.create_task(_lock_database(settings, hold_s, locked))
        await locked.wait()
        began = time.monotonic()
        # The worker cannot renew: it must stop its own child before the lease runs out,
        # while the database is still away (no reaper could have acted yet).
        assert await wait_pid_gone(child, timeout_s=LEASE_S), "child outlived the lease"
        assert time.monotonic() - began < LEASE_S
        assert not holder.done()
        await holder
        run = await wait_terminal(sessions, run_id, timeout_s=60)
    assert not pid_alive(child)
    assert run.status == "completed" and run.attempt == 2 and run.fence == 2
    history = await run_history(sessions, run_id)
    events = history["events"]
    assert isinstance(events, list)
    assert [e.to_status for e in events] == [
        "pending",
        "running",
        "pending",
        "running",
        "completed",
    ]
    assert [e.reason for e in events if e.to_status == "pending"][1] == "lease_expired"
    seqs = [seq for seq, _ in history["lines"]]  # type: ignore[union-attr]
    assert seqs == list(range(1, len(seqs) + 1))
    # Attempt 2 started from the last checkpoint attempt 1 committed (handed over by link).
    handed = sorted((attempt_dir(settings, run_id, 2) / "checkpoints").iterdir())
    assert handed and all(p.name.isdigit() for p in handed)
    assert (attempt_dir(settings, run_id, 2) / "eval.json").is_file()
    async with sessions() as session:
        final = await queue.read_run(session, run_id)
    assert final.eval is not None and final.eval["attempt"] == 2
