"""Live log latency: child print -> SSE client, on SQLite and PostgreSQL.

For each backend: start `tunix-rt serve --workers 1` (own process, fresh database) whose
worker command is tests/fixtures/sse_lines.py, a child printing timestamped lines at a steady
rate. For 1 and then 50 concurrent SSE clients, submit a run, follow /logs to `end` and
measure, per delivered line, (client receive time - child print time). Prints p50/p99
latency and lines/s delivered (all clients together). Target: p99 <= 250 ms on PostgreSQL.

    python bench/sse.py                                 # both backends, 20,000 lines
    python bench/sse.py --backends sqlite --lines 5000 --rate 1000 --clients 1 10
"""

from __future__ import annotations

import sys
from pathlib import Path

# `python bench/sse.py` puts bench/ first on sys.path, where bench/queue.py would shadow the
# standard library's queue module (anyio imports it).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import httpx  # noqa: E402
import psutil  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throwaway_db import add_placeholder_dataset, database, free_port  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "sse_lines.py"
DATASET_KEY = "bench-sse-v1"
P99_TARGET_MS = 250


@contextmanager
def server(database_url: str, home: Path, lines: int, rate: float) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNIX_RT_")}
    env.update(
        TUNIX_RT_HOME=str(home),
        TUNIX_RT_DATABASE_URL=database_url,
        TUNIX_RT_WORKER_COMMAND=json.dumps([sys.executable, str(FIXTURE), str(lines), str(rate)]),
    )
    cli = Path(sys.executable).parent / "tunix-rt"
    proc = subprocess.Popen(
        [str(cli), "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("tunix-rt serve did not start")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def add_dataset(database_url: str) -> None:
    from tunix_rt.db import engine as db_engine

    engine = db_engine.create_engine(database_url)
    try:
        async with db_engine.create_session_factory(engine)() as session:
            await add_placeholder_dataset(session, DATASET_KEY)
            await session.commit()
    finally:
        await engine.dispose()


async def follow(http: httpx.AsyncClient, url: str, latencies: list[float]) -> int:
    """Read one stream to `end`; append each log line's latency; return lines received."""
    received, event = 0, ""
    async with http.stream("GET", url) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                now = time.time()
                if event == "log":
                    # The text is "<index> <unix time> ..."; slicing beats json.loads at 100k/s.
                    text = line[line.index('"text":"') + 8 :]
                    latencies.append(now - float(text.split(" ", 2)[1]))
                    received += 1
                elif event == "end":
                    return received
    return received


async def measure(base: str, clients: int, server_pid: int) -> dict[str, float]:
    limits = httpx.Limits(max_connections=clients + 10)
    async with httpx.AsyncClient(timeout=httpx.Timeout(120), limits=limits) as http:
        created = await http.post(
            f"{base}/api/tunix/run", json={"dataset_key": DATASET_KEY, "max_steps": 1}
        )
        created.raise_for_status()
        url = f"{base}/api/tunix/runs/{created.json()['run_id']}/logs"
        latencies: list[float] = []
        server_proc = psutil.Process(server_pid)
        server_cpu = sum(server_proc.cpu_times()[:2])
        client_cpu = time.process_time()
        started = time.perf_counter()
        counts = await asyncio.gather(*(follow(http, url, latencies) for _ in range(clients)))
        elapsed = time.perf_counter() - started
        server_cpu = sum(server_proc.cpu_times()[:2]) - server_cpu
        client_cpu = time.process_time() - client_cpu
    latencies.sort()
    return {
        "clients": clients,
        "lines": sum(counts),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
        "lines_per_s": sum(counts) / elapsed,
        "server_cpu": server_cpu / elapsed,
        "client_cpu": client_cpu / elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1_000, help="child lines per second")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 50])
    args = parser.parse_args()
    print(f"child: {args.lines} lines at {args.rate:.0f} lines/s; clients: {args.clients}")
    worst_pg_p99 = 0.0
    for backend in args.backends:
        with tempfile.TemporaryDirectory(prefix="tunix-rt-bench-sse-") as tmp:
            home = Path(tmp)
            with (
                database(backend, home) as url,
                server(url, home, args.lines, args.rate) as (base, pid),
            ):
                asyncio.run(add_dataset(url))
                for clients in args.clients:
                    r = asyncio.run(measure(base, clients, pid))
                    expected = args.lines * clients
                    flag = "" if r["lines"] == expected else f"  MISSING {expected - r['lines']}"
                    print(
                        f"{backend:10s} clients={clients:3d}  p50 {r['p50_ms']:7.1f} ms  "
                        f"p99 {r['p99_ms']:7.1f} ms  max {r['max_ms']:7.1f} ms  "
                        f"delivered {r['lines_per_s']:7.0f} lines/s  "
                        f"cpu server {r['server_cpu']:.2f} client {r['client_cpu']:.2f}{flag}",
                        flush=True,
                    )
                    if backend == "postgresql":
                        worst_pg_p99 = max(worst_pg_p99, r["p99_ms"])
    if "postgresql" in args.backends:
        verdict = "ok" if worst_pg_p99 <= P99_TARGET_MS else "MISSED"
        print(f"target p99 <= {P99_TARGET_MS} ms on PostgreSQL: {verdict} ({worst_pg_p99:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
