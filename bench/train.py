"""Training throughput: the child run bare vs through the queue and a worker.

Bare: `python -m tunix_rt.training spec.json` on a generated high-card-duel dataset.
Through the service: `tunix-rt serve` (one embedded worker) on a temporary home; the same
traces go in through the API, a dataset is built and a run enqueued with the same
hyperparameters. Reported: steady-state tokens/s (median over steps after warm-up) for
both, their ratio, and enqueue -> first metric latency. Each leg uses its own fresh
JAX compilation cache, so both pay the same compile.

    python bench/train.py                   # tiny, 150 steps; small, 30 steps
    python bench/train.py --presets tiny --steps 60
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tunix_rt.training import synthetic

WARMUP_STEPS = 5
TRAIN_TRACES = 1000


def steady_tokens_per_s(values: list[tuple[int, float]]) -> float | None:
    steady = [v for step, v in values if step > WARMUP_STEPS]
    return statistics.median(steady) if steady else None


def run_bare(root: Path, preset: str, steps: int, batch: int) -> dict[str, Any]:
    run_dir = root / f"bare-{preset}"
    synthetic.write_dataset(run_dir, "high_card_duel", TRAIN_TRACES, 32, seed=0)
    spec = synthetic.write_spec(
        run_dir,
        model={"preset": preset},
        hyperparameters={"max_steps": steps, "batch_size": batch, "save_every_steps": steps},
        evaluation={"max_examples": 32, "max_new_tokens": 48},
        jax_cache_dir=str(run_dir / "jax-cache"),
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "tunix_rt.training", str(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"bare {preset} run failed:\n{result.stderr[-3000:]}")
    events = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rates = [
        (e["step"], e["values"]["tokens_per_s"]) for e in events if "tokens_per_s" in e["values"]
    ]
    return {"tokens_per_s": steady_tokens_per_s(rates), "wall_s": wall}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(client: httpx.Client, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"tunix-rt serve exited {server.returncode}")
        try:
            if client.get("/api/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError("tunix-rt serve did not become ready in 120 s")


def run_through_worker(
    client: httpx.Client, preset: str, steps: int, batch: int, dataset_key: str
) -> dict[str, Any]:
    request = {
        "dataset_key": dataset_key,
        "model_id": preset,
        "max_steps": steps,
        "batch_size": batch,
        "save_every_steps": steps,
        "eval_max_examples": 32,
        "eval_max_new_tokens": 48,
    }
    enqueued = time.perf_counter()
    response = client.post("/api/tunix/run", json=request)
    response.raise_for_status()
    run_id = response.json()["run_id"]
    first_metric: float | None = None
    status = "pending"
    while status not in ("completed", "failed", "cancelled", "timeout"):
        time.sleep(0.2)
        if first_metric is None:
            rows = client.get(f"/api/tunix/runs/{run_id}/metrics", params={"name": "loss"})
            if rows.status_code == 200 and rows.json()["data"]:
                first_metric = time.perf_counter() - enqueued
        status = client.get(f"/api/tunix/runs/{run_id}/status").json()["status"]
    wall = time.perf_counter() - enqueued
    if status != "completed":
        raise RuntimeError(f"run {run_id} ended {status}")
    rows = client.get(f"/api/tunix/runs/{run_id}/metrics", params={"name": "tokens_per_s"})
    rates = [(r["step"], r["value"]) for r in rows.json()["data"]]
    return {
        "tokens_per_s": steady_tokens_per_s(rates),
        "first_metric_s": first_metric,
        "wall_s": wall,
    }


def create_dataset(client: httpx.Client) -> str:
    traces = [
        t.model_dump()
        for t in synthetic.generators.generate_traces("high_card_duel", TRAIN_TRACES, 0)
    ]
    client.post("/api/traces/batch", json=traces).raise_for_status()
    body = {
        "dataset_name": "bench-duel",
        "dataset_version": "1",
        "filters": {"task": "high_card_duel"},
        "limit": TRAIN_TRACES,
        "selection_strategy": "latest",
        "seed": 0,
        "holdout_fraction": 0.03,
    }
    response = client.post("/api/datasets/build", json=body)
    response.raise_for_status()
    return str(response.json()["dataset_key"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,small")
    parser.add_argument("--steps", type=int, default=150, help="tiny steps (small runs 1/5)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--bare-only", action="store_true")
    args = parser.parse_args()
    plans = [
        (p, args.steps if p == "tiny" else max(10, args.steps // 5))
        for p in args.presets.split(",")
    ]
    with tempfile.TemporaryDirectory(prefix="tunix-rt-train-bench-") as tmp:
        root = Path(tmp)
        bare = {p: run_bare(root, p, s, args.batch_size) for p, s in plans}
        worker: dict[str, dict[str, Any]] = {}
        note = ""
        if not args.bare_only:
            port = free_port()
            env = {**os.environ, "TUNIX_RT_HOME": str(root / "home"), "TUNIX_RT_PORT": str(port)}
            env.pop("TUNIX_RT_DATABASE_URL", None)
            server = subprocess.Popen(
                [str(Path(sys.executable).with_name("tunix-rt")), "serve", "--workers", "1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                    wait_ready(client, server)
                    key = create_dataset(client)
                    worker = {
                        p: run_through_worker(client, p, s, args.batch_size, key) for p, s in plans
                    }
            except (RuntimeError, httpx.HTTPError, KeyError) as exc:
                note = f"through-worker leg skipped: {exc}"
            finally:
                server.terminate()
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
    print(
        f"{'preset':<8}{'steps':>6}{'bare tok/s':>12}{'worker tok/s':>14}{'ratio':>7}"
        f"{'enqueue->1st metric s':>23}"
    )
    for preset, steps in plans:
        b, w = bare[preset], worker.get(preset, {})
        ratio = (
            w["tokens_per_s"] / b["tokens_per_s"]
            if w.get("tokens_per_s") and b["tokens_per_s"]
            else None
        )
        print(
            f"{preset:<8}{steps:>6}{b['tokens_per_s'] or 0:>12.0f}"
            f"{w.get('tokens_per_s') or 0:>14.0f}"
            f"{ratio or 0:>7.2f}{w.get('first_metric_s') or 0:>23.1f}"
        )
    if note:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
