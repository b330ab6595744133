"""Queue bench on PostgreSQL: claim throughput and enqueue->claim latency.

1. 5,000 no-op runs claimed and completed (no child process) by 1 and 4 worker processes
   (each with its own engine and event loop, as `tunix-rt worker` runs) through tunix-rt's
   queue (claim_next_run + transition_run: run_events rows, NOTIFY, compare-and-set, each one
   statement run in autocommit as the worker does),
   against the raw single-statement SKIP LOCKED claim plus a bare UPDATE to completed on 1
   and 4 asyncpg connections, measured in the same run. Target: ours >= 0.5 x raw.
2. Enqueue->claim latency p50/p99: runs enqueued at a steady rate while 4 idle workers wait
   on LISTEN/NOTIFY wake-ups (with the polling fallback).
Uses a throwaway database on TUNIX_RT_BENCH_POSTGRES_URL (default the local server).

    .venv/bin/python bench/queue.py [--runs 5000]
"""

from __future__ import annotations

import sys

if __name__ == "queue":
    # Another script in bench/ ran with bench/ on sys.path and its `import queue` (asyncio,
    # concurrent.futures, ...) found this file: load the real stdlib module in our place.
    import importlib.util
    import sysconfig

    _spec = importlib.util.spec_from_file_location(
        "queue", f"{sysconfig.get_paths()['stdlib']}/queue.py"
    )
    assert _spec is not None and _spec.loader is not None
    _real = importlib.util.module_from_spec(_spec)
    sys.modules["queue"] = _real
    _spec.loader.exec_module(_real)
    globals().update({k: v for k, v in vars(_real).items() if not k.startswith("__")})
else:
    # This file is named like the stdlib `queue`: keep its directory off the import path.
    sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("bench")]

import argparse
import asyncio
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(os.path.abspath(__file__)).parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from sqlalchemy import delete, insert, select  # noqa: E402

from bench.throwaway_db import throwaway_database  # noqa: E402
from tunix_rt.db import engine as db_engine  # noqa: E402
from tunix_rt.db import models  # noqa: E402
from tunix_rt.db.types import utcnow  # noqa: E402
from tunix_rt.runs import queue, states  # noqa: E402
from tunix_rt.runs.notify import Hub  # noqa: E402
from tunix_rt.runs.schema import RunRequest  # noqa: E402

RAW_CLAIM = """
UPDATE runs SET status = 'running', worker_id = $1, attempt = attempt + 1,
       lease_expires_at = now() + interval '30 seconds', started_at = now(), updated_at = now()
 WHERE id = (SELECT id FROM runs WHERE status = 'pending'
              ORDER BY priority DESC, created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
   AND status = 'pending'
RETURNING id
"""
RAW_COMPLETE = (
    "UPDATE runs SET status = 'completed', finished_at = now(), updated_at = now() "
    "WHERE id = $1 AND status = 'running'"
)
LATENCY_RUNS = 400
LATENCY_RATE_PER_S = 200


async def fill_queue(sessions: db_engine.async_sessionmaker, count: int) -> None:  # type: ignore[type-arg]
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "dataset_key": "bench-v1",
            "mode": "async",
            "status": "pending",
            "model_id": "tiny",
            "dry_run": False,
            "request": {"dataset_key": "bench-v1"},
            "priority": 0,
            "timeout_s": 60,
            "max_attempts": 1,
            "attempt": 0,
            "created_at": now,
            "queued_at": now,
            "updated_at": now,
        }
        for _ in range(count)
    ]
    async with sessions() as session:
        await session.execute(delete(models.RunEvent))
        await session.execute(delete(models.Run))
        for start in range(0, count, 1000):
            await session.execute(insert(models.Run), rows[start : start + 1000])
        await session.commit()


async def raw_throughput(dsn: str, workers: int) -> float:
    pool = await asyncpg.create_pool(dsn, min_size=workers, max_size=workers)

    async def work(worker_id: str) -> int:
        done = 0
        async with pool.acquire() as conn:
            while (run_id := await conn.fetchval(RAW_CLAIM, worker_id)) is not None:
                await conn.execute(RAW_COMPLETE, run_id)
                done += 1
        return done

    began = time.perf_counter()
    counts = await asyncio.gather(*(work(f"raw{i}") for i in range(workers)))
    took = time.perf_counter() - began
    await pool.close()
    return sum(counts) / took


def _ours_process(url: str, worker_id: str, barrier: Any, out: Any) -> None:
    """One worker process (as `tunix-rt worker` runs): its own engine and event loop."""

    async def run() -> None:
        engine = db_engine.create_engine(url, pool_pre_ping=False)
        sessions = db_engine.create_session_factory(engine)
        async with sessions() as session:  # connect before the clock starts
            await session.execute(select(1))
        barrier.wait()
        began = time.perf_counter()
        # As the worker does: claims and transitions are single statements, run in autocommit.
        done = await ours_loop(db_engine.create_statement_session_factory(sessions), worker_id)
        out.put((done, began, time.perf_counter()))
        await engine.dispose()

    asyncio.run(run())


async def ours_throughput_processes(url: str, workers: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_ours_process, args=(url, f"ours{i}", barrier, out))
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    results = [await asyncio.to_thread(out.get) for _ in procs]
    for proc in procs:
        proc.join()
    total = sum(r[0] for r in results)
    return total / (max(r[2] for r in results) - min(r[1] for r in results))


async def ours_loop(sessions: db_engine.async_sessionmaker, worker_id: str) -> int:  # type: ignore[type-arg]
    done = 0
    while True:
        async with sessions() as session:
            claim = await queue.claim_next_run(session, worker_id, 30)
            await session.commit()
        if claim is None:
            return done
        async with sessions() as session:
            await queue.transition_run(
                session,
                claim.run.id,
                states.COMPLETED,
                from_=states.ACTIVE,
                attempt=claim.run.attempt,
                reason="exit 0",
                exit_code=0,
            )
            await session.commit()
        done += 1


async def claim_latency(url: str, sessions: db_engine.async_sessionmaker) -> list[float]:  # type: ignore[type-arg]
    hub = Hub()
    await hub.start(url)
    await asyncio.sleep(0.5)  # let LISTEN connect
    latencies: list[float] = []
    finished = asyncio.Event()

    async def consumer(worker_id: str) -> None:
        async with hub.subscribe(None) as sub:
            while not finished.is_set():
                async with sessions() as session:
                    claim = await queue.claim_next_run(session, worker_id, 30)
                    await session.commit()
                if claim is None:
                    await sub.wait(0.5)
                    continue
                latencies.append((utcnow() - claim.queued_at).total_seconds())
                async with sessions() as session:
                    await queue.transition_run(
                        session, claim.run.id, states.COMPLETED, attempt=claim.run.attempt
                    )
                    await session.commit()
                if len(latencies) >= LATENCY_RUNS:
                    finished.set()

    consumers = [asyncio.create_task(consumer(f"lat{i}")) for i in range(4)]
    request = RunRequest(dataset_key="bench-v1")
    for _ in range(LATENCY_RUNS):
        async with sessions() as session:
            await queue.enqueue_run(session, request, default_timeout_s=60, default_max_attempts=1)
            await session.commit()
        await asyncio.sleep(1 / LATENCY_RATE_PER_S)
    await asyncio.wait_for(finished.wait(), 60)
    await asyncio.gather(*consumers)
    await hub.stop()
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tunix-rt-bench-queue-") as tmp:
        async with throwaway_database("postgresql", Path(tmp)) as url:
            dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
            engine = db_engine.create_engine(url, pool_pre_ping=False)
            sessions = db_engine.create_session_factory(engine)
            try:
                print(f"{args.runs} no-op runs, claim + complete, PostgreSQL")
                for workers in (1, 4):
                    await fill_queue(sessions, args.runs)
                    raw = await raw_throughput(dsn, workers)
                    await fill_queue(sessions, args.runs)
                    ours = await ours_throughput_processes(url, workers)
                    print(
                        f"{workers} worker process(es): raw SKIP LOCKED {raw:6.0f} runs/s | "
                        f"tunix-rt queue {ours:6.0f} runs/s | ratio {ours / raw:.2f} "
                        "(target >= 0.5)"
                    )
                await fill_queue(sessions, 0)
                lat = sorted(await claim_latency(url, sessions))
                p50 = statistics.median(lat) * 1000
                p99 = lat[int(len(lat) * 0.99) - 1] * 1000
                print(
                    f"enqueue->claim latency over {len(lat)} runs at {LATENCY_RATE_PER_S}/s, "
                    f"4 idle workers on LISTEN/NOTIFY: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
                )
            finally:
                await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
