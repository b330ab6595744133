"""Trace import and dataset export throughput, on SQLite and PostgreSQL.

For each backend: start a real server (uvicorn, own process, fresh database), then
- batch: POST /api/traces/batch with 50,000 generated traces in chunks of 5,000
  (bodies serialised before the clock starts, so the figure is the server's);
- cli: `tunix-rt traces import FILE.jsonl` of 50,000 traces (reads, validates, sends);
- naive baseline: one POST /api/traces per trace, 2,000 traces;
- export: build a dataset of 50,000 traces and stream export.jsonl (tunix_sft) in MB/s.
Targets: batch >= 10,000 traces/s on PostgreSQL and >= 5,000/s on SQLite; export >= 50 MB/s.

    python bench/traces_import.py                 # both backends
    python bench/traces_import.py --backends sqlite --traces 20000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.throwaway_db import database, free_port
from tunix_rt.traces.generators import generate_traces

CHUNK = 5_000
NAIVE_TRACES = 2_000
TARGETS = {"sqlite": 5_000, "postgresql": 10_000}
EXPORT_TARGET_MB_S = 50
SERVER_CODE = (
    "import uvicorn\n"
    "from tunix_rt.api.app import create_app\n"
    "from tunix_rt.settings import load_settings\n"
    "import sys\n"
    "uvicorn.run(create_app(load_settings()), host='127.0.0.1', port=int(sys.argv[1]),"
    " log_level='warning')\n"
)


@contextmanager
def server(database_url: str, home: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "TUNIX_RT_DATABASE_URL": database_url, "TUNIX_RT_HOME": str(home)}
    env.pop("TUNIX_RT_API_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-c", SERVER_CODE, str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("server did not start")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def payload_dicts(count: int, seed: int) -> list[dict[str, Any]]:
    tasks = ("high_card_duel", "addition", "multiplication")
    per_task = -(-count // len(tasks))
    out = [t.model_dump() for task in tasks for t in generate_traces(task, per_task, seed)]
    return out[:count]


def bench_batch(client: httpx.Client, items: list[dict[str, Any]]) -> float:
    bodies = [json.dumps(items[i : i + CHUNK]).encode() for i in range(0, len(items), CHUNK)]
    headers = {"content-type": "application/json"}
    started = time.perf_counter()
    for body in bodies:
        res = client.post("/api/traces/batch", content=body, headers=headers)
        res.raise_for_status()
    return len(items) / (time.perf_counter() - started)


def bench_cli(url: str, items: list[dict[str, Any]], tmp: Path) -> float:
    path = tmp / "traces.jsonl"
    with path.open("w") as f:
        for item in items:
            f.write(json.dumps(item) + "\n")
    entry = "from tunix_rt.cli import main; main()"
    cmd = [sys.executable, "-c", entry, "traces", "import", str(path), "--json"]
    started = time.perf_counter()
    subprocess.run([*cmd, "--server", url], check=True, stdout=subprocess.DEVNULL)
    return len(items) / (time.perf_counter() - started)


def bench_naive(client: httpx.Client, items: list[dict[str, Any]]) -> float:
    bodies = [json.dumps(item).encode() for item in items]
    headers = {"content-type": "application/json"}
    started = time.perf_counter()
    for body in bodies:
        client.post("/api/traces", content=body, headers=headers).raise_for_status()
    return len(items) / (time.perf_counter() - started)


def bench_export(client: httpx.Client, count: int) -> tuple[float, float, int]:
    # The seeds repeat prompts; keep them all so the export moves `count` members.
    body = {
        "dataset_name": "bench",
        "dataset_version": "v1",
        "limit": count,
        "dedupe_prompts": False,
    }
    started = time.perf_counter()
    client.post("/api/datasets/build", json=body).raise_for_status()
    build_s = time.perf_counter() - started
    size = 0
    started = time.perf_counter()
    params = {"format": "tunix_sft"}
    with client.stream("GET", "/api/datasets/bench-v1/export.jsonl", params=params) as res:
        res.raise_for_status()
        for chunk in res.iter_bytes():
            size += len(chunk)
    export_s = time.perf_counter() - started
    return size / 1e6 / export_s, count / build_s, size


def run_backend(backend: str, count: int) -> dict[str, float]:
    items = payload_dicts(count, seed=1)
    naive_items = payload_dicts(NAIVE_TRACES, seed=2)
    with tempfile.TemporaryDirectory(prefix="tunix-rt-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        with (
            database(backend, tmp) as url,
            server(url, tmp) as base,
            httpx.Client(base_url=base, timeout=600) as client,
        ):
            naive = bench_naive(client, naive_items)
            batch = bench_batch(client, items)
            cli = bench_cli(base, payload_dicts(count, seed=3), tmp)
            export_mb_s, build_rate, size = bench_export(client, count)
    target = TARGETS[backend]
    print(f"[{backend}] naive one-per-request: {naive:,.0f} traces/s ({NAIVE_TRACES} traces)")
    print(
        f"[{backend}] batch endpoint: {batch:,.0f} traces/s ({count} traces, chunks of {CHUNK}), "
        f"{batch / naive:.1f}x naive, target {target:,}/s: {'ok' if batch >= target else 'MISSED'}"
    )
    print(f"[{backend}] CLI JSONL import: {cli:,.0f} traces/s, {cli / naive:.1f}x naive")
    print(f"[{backend}] dataset build: {build_rate:,.0f} traces/s ({count} traces)")
    print(
        f"[{backend}] export tunix_sft: {export_mb_s:.1f} MB/s ({size / 1e6:.1f} MB), target "
        f"{EXPORT_TARGET_MB_S} MB/s: {'ok' if export_mb_s >= EXPORT_TARGET_MB_S else 'MISSED'}"
    )
    return {"naive": naive, "batch": batch, "cli": cli, "export_mb_s": export_mb_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--traces", type=int, default=50_000)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        try:
            run_backend(backend, args.traces)
        except OSError as exc:  # e.g. no PostgreSQL reachable
            print(f"[{backend}] skipped: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
