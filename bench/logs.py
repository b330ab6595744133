"""Log ingestion bench: a child printing 200,000 lines of 100 bytes, bare vs under a worker.

Prints the child's write time bare (stdout to a file) and under the worker (the ratio shows
how much the worker slows a chatty child; target <= 1.10), the end-to-end time from claim to
the run's terminal state, and lines/s persisted to the database. Throwaway database: a
PostgreSQL database created and dropped on TUNIX_RT_BENCH_POSTGRES_URL (default the local
server), or SQLite with --sqlite.

    .venv/bin/python bench/logs.py [--lines 200000] [--sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throwaway_db import add_placeholder_dataset, throwaway_database  # noqa: E402
from tunix_rt.db import engine as db_engine  # noqa: E402
from tunix_rt.runs import queue  # noqa: E402
from tunix_rt.runs.schema import RunRequest  # noqa: E402
from tunix_rt.settings import Settings  # noqa: E402
from tunix_rt.worker.attempt import WorkerContext  # noqa: E402
from tunix_rt.worker.loop import Worker  # noqa: E402

CHILD = str(ROOT / "tests" / "fixtures" / "child.py")
REPEATS = 3


def run_bare(lines: int, tmp: Path) -> float:
    run_dir = tmp / "bare"
    run_dir.mkdir(exist_ok=True)
    spec = run_dir / "spec.json"
    spec.write_text(json.dumps({"run_dir": str(run_dir)}))
    with (run_dir / "output.log").open("wb") as out:
        subprocess.run(
            [sys.executable, CHILD, "flood", str(lines), str(spec)], stdout=out, check=True
        )
    return float((run_dir / "flood_elapsed_s").read_text())


async def run_worker(url: str, lines: int, home: Path) -> tuple[float, float, float, int]:
    settings = Settings(
        home=home,
        database_url=url,
        worker_command=[sys.executable, CHILD, "flood", str(lines)],
        poll_interval_s=0.05,
    )
    engine = db_engine.create_engine(url)
    sessions = db_engine.create_session_factory(engine)
    try:
        async with sessions() as session:
            await add_placeholder_dataset(session, "bench-v1")
            run, _ = await queue.enqueue_run(
                session,
                RunRequest(dataset_key="bench-v1"),
                default_timeout_s=600,
                default_max_attempts=1,
            )
            await session.commit()
        worker = Worker(WorkerContext(settings=settings, sessions=sessions, hub=None))
        began = time.perf_counter()
        worker.start()
        while True:
            async with sessions() as session:
                row = await queue.read_run(session, run.id)
            if row.status in ("completed", "failed", "cancelled", "timeout"):
                break
            await asyncio.sleep(0.02)
        end_to_end = time.perf_counter() - began
        await worker.stop(drain_timeout_s=5)
        assert row.status == "completed", row.error
        assert row.started_at is not None and row.finished_at is not None
        active = (row.finished_at - row.started_at).total_seconds()
        elapsed = float((settings.artifacts / str(run.id) / "flood_elapsed_s").read_text())
        return elapsed, end_to_end, row.log_lines / active, row.log_lines
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tunix-rt-bench-logs-") as tmp_name:
        tmp = Path(tmp_name)
        bare = [run_bare(args.lines, tmp) for _ in range(REPEATS)]
        async with throwaway_database("sqlite" if args.sqlite else "postgresql", tmp) as url:
            results = [await run_worker(url, args.lines, tmp / f"home{i}") for i in range(REPEATS)]
    bare_s = statistics.median(bare)
    child_s = statistics.median(r[0] for r in results)
    e2e_s = statistics.median(r[1] for r in results)
    rate = statistics.median(r[2] for r in results)
    print(f"backend: {'sqlite' if args.sqlite else 'postgresql'}; {args.lines} lines x 100 B")
    print(f"child write time bare:          {bare_s:.3f} s (median of {REPEATS})")
    print(f"child write time under worker:  {child_s:.3f} s")
    print(f"ratio (target <= 1.10):         {child_s / bare_s:.2f}")
    print(f"claim -> completed, end to end: {e2e_s:.2f} s")
    print(f"lines persisted per second:     {rate:,.0f} (all {results[0][3]} lines counted)")


if __name__ == "__main__":
    asyncio.run(main())
