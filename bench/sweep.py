"""Sweep benchmark: Optuna search over real tiny-model training runs through the queue.

A `tunix-rt serve` with two embedded workers on a temporary home (SQLite); generated
high-card-duel traces frozen into a dataset (HOLDOUT held-out prompts); then the same sweep
twice, with the median pruner and without: TPE over learning rate x steps x batch size,
--trials trials (at most 8), 2 at a time, mid-training evaluations every --eval-every steps
on a --eval-subset subset. Reported per sweep: the best trial's held-out exact match (its
end-of-run evaluation, target >= 0.97), total wall time, trials pruned; and the wall time
pruning saved against the unpruned sweep.

    python bench/sweep.py                  # 8 trials, steps in {150, 300}
    python bench/sweep.py --quick          # 4 trials, steps in {60, 120}: a smoke run

Figures (docs/api.md, Sweeps): --trials 6 --steps 500,1000 --eval-every 100 found a 1.000
held-out exact match with and without pruning; the median pruner ran 2,104 training steps
instead of 4,000 (850 s against 994 s wall on a loaded 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tunix_rt.training import synthetic

TRAIN_TRACES = 2000
HOLDOUT = 200
TARGET_EXACT_MATCH = 0.97
MAX_TRIALS = 8


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


def create_dataset(client: httpx.Client) -> str:
    total = TRAIN_TRACES + HOLDOUT
    traces = [
        t.model_dump() for t in synthetic.generators.generate_traces("high_card_duel", total, 0)
    ]
    client.post("/api/traces/batch", json=traces).raise_for_status()
    body = {
        "dataset_name": "bench-sweep-duel",
        "dataset_version": "1",
        "filters": {"task": "high_card_duel"},
        "limit": total,
        "selection_strategy": "latest",
        "seed": 0,
        "holdout_fraction": HOLDOUT / total,
    }
    response = client.post("/api/datasets/build", json=body)
    response.raise_for_status()
    return str(response.json()["dataset_key"])


def sweep_request(dataset_key: str, args: argparse.Namespace, pruner: str) -> dict[str, Any]:
    steps = [int(s) for s in args.steps.split(",")]
    return {
        "dataset_key": dataset_key,
        "name": f"bench duel ({pruner} pruner)",
        "base": {
            "model_id": "tiny",
            "eval_every_steps": args.eval_every,
            "eval_subset_size": args.eval_subset,
            "eval_max_examples": HOLDOUT,
            "eval_max_new_tokens": 48,
            "keep_checkpoints": 1,
            "save_every_steps": max(steps),
        },
        "space": {
            "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
            "max_steps": {"type": "categorical", "choices": steps},
            "batch_size": {"type": "categorical", "choices": [8, 16]},
        },
        "objective": {"metric": "exact_match", "direction": "maximize"},
        "sampler": "tpe",
        "pruner": pruner,
        "n_trials": args.trials,
        "max_parallel": 2,
        "seed": args.seed,
    }


def run_sweep(client: httpx.Client, request: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    response = client.post("/api/sweeps", json=request)
    response.raise_for_status()
    sweep_id = response.json()["sweep_id"]
    seen: dict[int, str] = {}
    while True:
        sweep: dict[str, Any] = client.get(f"/api/sweeps/{sweep_id}").json()
        for trial in sweep["trials"]:
            if seen.get(trial["number"]) != trial["state"]:
                seen[trial["number"]] = trial["state"]
                print(
                    f"  [{time.perf_counter() - started:6.0f} s] trial {trial['number']} "
                    f"{trial['state']} {trial['params']} value={trial['value']}",
                    flush=True,
                )
        if sweep["status"] != "running":
            break
        time.sleep(2)
    wall = time.perf_counter() - started
    best = sweep["best_trial"]
    # Training steps actually run: unlike wall time, independent of the machine's load.
    steps = sum(
        client.get(f"/api/tunix/runs/{t['run_id']}").json()["last_step"] or 0
        for t in sweep["trials"]
    )
    return {
        "sweep_id": sweep_id,
        "status": sweep["status"],
        "wall_s": round(wall, 1),
        "best_exact_match": best["value"] if best else None,
        "best_params": best["params"] if best else None,
        "trials": len(sweep["trials"]),
        "pruned": sum(1 for t in sweep["trials"] if t["state"] == "pruned"),
        "failed": sum(1 for t in sweep["trials"] if t["state"] == "failed"),
        "train_s": round(sum(t["duration_s"] or 0 for t in sweep["trials"]), 1),
        "steps_trained": steps,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=MAX_TRIALS)
    parser.add_argument("--steps", default="150,300", help="max_steps choices")
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--eval-subset", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="4 trials of 60/120 steps")
    parser.add_argument("--only", choices=("median", "none"), help="run one of the two sweeps")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.steps, args.eval_every = 4, "60,120", 30
    args.trials = max(1, min(args.trials, MAX_TRIALS))
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="tunix-rt-sweep-bench-") as tmp:
        root = Path(tmp)
        port = free_port()
        env = {**os.environ, "TUNIX_RT_HOME": str(root / "home"), "TUNIX_RT_PORT": str(port)}
        env.pop("TUNIX_RT_DATABASE_URL", None)
        env["TUNIX_RT_JAX_CACHE_DIR"] = str(root / "jax-cache")
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("tunix-rt")), "serve", "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                wait_ready(client, server)
                key = create_dataset(client)
                for pruner in ("median", "none"):
                    if args.only and pruner != args.only:
                        continue
                    print(f"sweep with pruner {pruner}:", flush=True)
                    results[pruner] = run_sweep(client, sweep_request(key, args, pruner))
        finally:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
    print(
        f"\n{'pruner':<8}{'trials':>7}{'pruned':>7}{'best exact':>11}{'wall s':>8}"
        f"{'trial s':>9}{'steps':>7}"
    )
    for pruner, row in results.items():
        best = row["best_exact_match"]
        print(
            f"{pruner:<8}{row['trials']:>7}{row['pruned']:>7}"
            f"{best if best is not None else float('nan'):>11.3f}{row['wall_s']:>8.0f}"
            f"{row['train_s']:>9.0f}{row['steps_trained']:>7}   best {row['best_params']}"
        )
    for pruner, row in results.items():
        best = row["best_exact_match"] or 0.0
        verdict = "meets" if best >= TARGET_EXACT_MATCH else "misses"
        print(
            f"{pruner}: best held-out exact match {best:.3f} {verdict} "
            f"the {TARGET_EXACT_MATCH} target"
        )
    if "median" in results and "none" in results:
        saved = results["none"]["wall_s"] - results["median"]["wall_s"]
        share = saved / results["none"]["wall_s"] if results["none"]["wall_s"] else 0.0
        print(f"pruning saved {saved:.0f} s of wall time ({share:.0%}) against the unpruned sweep")
        steps_saved = results["none"]["steps_trained"] - results["median"]["steps_trained"]
        print(
            f"and {steps_saved} training steps (independent of load; after the random startup "
            "trials each search asks from its own history)"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
