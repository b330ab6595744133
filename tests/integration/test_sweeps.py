"""Sweeps end to end with real processes (both databases): `tunix-rt serve` plus a two-slot
`tunix-rt worker` process running the sweep fixture child (its eval/exact_match depends on
the learning rate). A 6-trial sweep, 2 at a time, with the median pruner and one failing
trial, survives a restart of every process mid-sweep; cancelling a sweep stops its trials;
the CLI starts and follows a sweep. No child process is left behind."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.cli_server import (
    REPO,
    TUNIX_RT,
    Server,
    Service,
    empty_database,
    make_dataset,
    run_cli,
    service_env,
    start_server,
)
from tests.integration.worker_helpers import pid_alive

SWEEP_CHILD = REPO / "tests" / "fixtures" / "sweep_child.py"
FAIL_LR = 2e-3
LEARNING_RATES = [1e-2, 5e-3, FAIL_LR, 1e-3, 3e-4, 1e-4]
TIMEOUT_S = 150.0


def child_command(log_dir: Path, step_s: float) -> str:
    return json.dumps([sys.executable, str(SWEEP_CHILD), str(log_dir), str(step_s), str(FAIL_LR)])


@pytest.fixture
def cluster(database_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A server (no embedded worker) and a `tunix-rt worker -c 2` process (two slots); the
    test may restart them."""
    home = tmp_path / "home"
    logs = tmp_path / "children"
    logs.mkdir()
    env = {
        "TUNIX_RT_WORKER_COMMAND": child_command(logs, 0.4),
        "TUNIX_RT_DRAIN_TIMEOUT_S": "0.5",
    }
    state: dict[str, Any] = {"home": home, "logs": logs, "env": env, "services": []}

    def start() -> Server:
        server = start_server(database_url, home, "--workers", "0", **env)
        worker = Service(
            argv=[TUNIX_RT, "worker", "-c", "2"],
            env=service_env(database_url, home, **env),
            log_path=home.parent / "worker.log",
        ).start()
        state["services"] = [server, worker]
        state["server"] = server
        return server

    def stop() -> None:
        # Every process at once: a worker left running would go on advancing the sweep.
        services: list[Service] = state["services"]
        for service in services:
            if service.proc is not None and service.proc.poll() is None:
                service.proc.send_signal(signal.SIGTERM)
        for service in services:
            service.stop()

    state["start"], state["stop"] = start, stop
    try:
        yield state
    finally:
        stop()
        empty_database(database_url)


def get(server: Server, path: str) -> Any:
    response = httpx.get(f"{server.url}{path}", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def wait_sweep(server: Server, sweep_id: str, done: Any, timeout_s: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        sweep = get(server, f"/api/sweeps/{sweep_id}")
        if done(sweep):
            return sweep
        if time.monotonic() > deadline:
            raise AssertionError(f"sweep did not get there in {timeout_s}s: {sweep}")
        time.sleep(0.3)


def children(logs: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(logs.glob("*.json"))]


def max_overlap(records: list[dict[str, Any]]) -> int:
    edges = sorted(
        [(r["start"], 1) for r in records] + [(r["end"] or time.time(), -1) for r in records],
        key=lambda e: (e[0], e[1]),
    )
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    return peak


def assert_no_child_left(logs: Path) -> None:
    deadline = time.monotonic() + 10
    alive = [r["pid"] for r in children(logs) if pid_alive(r["pid"])]
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in alive if pid_alive(pid)]
    assert not alive, f"training children still alive: {alive}"


def test_sweep_prunes_survives_a_restart_and_finds_the_best(cluster: dict[str, Any]) -> None:
    server = cluster["start"]()
    dataset = make_dataset(server.url, "sweep")
    body = {
        "dataset_key": dataset,
        "name": "lr search",
        "base": {"max_steps": 8, "eval_every_steps": 2, "save_every_steps": 4},
        "space": {"learning_rate": {"type": "categorical", "choices": LEARNING_RATES}},
        "objective": {"metric": "exact_match", "direction": "maximize"},
        "sampler": "grid",
        "pruner": "median",
        "n_trials": 6,
        "max_parallel": 2,
        "seed": 3,
    }
    created = httpx.post(f"{server.url}/api/sweeps", json=body, timeout=30)
    assert created.status_code == 202, created.text
    sweep_id = created.json()["sweep_id"]

    def ended(t: dict[str, Any]) -> bool:
        return t["state"] in ("complete", "failed", "pruned", "cancelled")

    # Restart every process (the controllers with them) once a trial has ended.
    wait_sweep(server, sweep_id, lambda s: any(ended(t) for t in s["trials"]))
    t0 = time.monotonic()
    cluster["stop"]()
    server = cluster["start"]()
    print(f"restart took {time.monotonic() - t0:.1f}s")
    before = get(server, f"/api/sweeps/{sweep_id}")
    assert before["status"] == "running" and len(before["trials"]) < 6
    sweep = wait_sweep(server, sweep_id, lambda s: s["status"] != "running")
    assert sweep["status"] == "completed", sweep

    trials = sweep["trials"]
    assert [t["number"] for t in trials] == list(range(6))
    assert sorted(t["params"]["learning_rate"] for t in trials) == sorted(LEARNING_RATES)
    states = {t["params"]["learning_rate"]: t["state"] for t in trials}
    assert states[FAIL_LR] == "failed"  # recorded, and the sweep went on
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned, f"the median pruner stopped nothing: {states}"
    for trial in pruned:
        run = get(server, f"/api/tunix/runs/{trial['run_id']}")
        assert run["status"] == "cancelled"
        assert trial["pruned_step"] is not None and trial["intermediate"]
        events = get(server, f"/api/tunix/runs/{trial['run_id']}/events")["data"]
        assert "pruned" in [e["reason"] for e in events]
        kept = get(server, f"/api/tunix/runs/{trial['run_id']}/checkpoints")["checkpoints"]
        assert kept, "a pruned trial keeps its checkpoint"

    # The best trial is the argmax of the recorded values (the end-of-run evaluations).
    complete = [t for t in trials if t["state"] == "complete"]
    for trial in complete:
        rows = get(server, f"/api/evaluations?run_id={trial['run_id']}")["data"]
        assert trial["value"] == pytest.approx(rows[0]["summary"]["exact_match"])
    best = max(complete, key=lambda t: t["value"])
    assert sweep["best_trial"]["number"] == best["number"]
    assert best["params"]["learning_rate"] == 1e-2 and best["value"] == 1.0

    # Trials are ordinary runs: the runs list shows their sweep and number.
    listed = get(server, "/api/tunix/runs?limit=50")["data"]
    numbers = {r["trial_number"] for r in listed if r["sweep_id"] == sweep_id}
    assert numbers == set(range(6))

    records = children(cluster["logs"])
    assert max_overlap(records) <= 2
    assert_no_child_left(cluster["logs"])

    importance = get(server, f"/api/sweeps/{sweep_id}/importance")
    assert importance["available"] and set(importance["importances"]) == {"learning_rate"}
    pinned = httpx.post(f"{server.url}/api/sweeps/{sweep_id}/pin-best", timeout=30)
    assert pinned.status_code == 200, pinned.text
    pin = pinned.json()
    assert pin["run_id"] == best["run_id"] and pin["reason"] == f"sweep:{sweep_id}"
    kept = get(server, f"/api/tunix/runs/{best['run_id']}/checkpoints")["checkpoints"]
    assert any(f"sweep:{sweep_id}" in c["pinned_by"] and c["step"] == pin["step"] for c in kept)


def test_cancel_stops_running_trials_and_the_cli_follows_a_sweep(
    cluster: dict[str, Any], tmp_path: Path
) -> None:
    cluster["env"]["TUNIX_RT_WORKER_COMMAND"] = child_command(cluster["logs"], 1.0)
    server = cluster["start"]()
    dataset = make_dataset(server.url, "sweep-cancel")
    spec = tmp_path / "sweep.json"
    spec.write_text(
        json.dumps(
            {
                "dataset_key": dataset,
                "base": {"max_steps": 20},
                "space": {"learning_rate": {"type": "float", "low": 1e-3, "high": 1e-1}},
                "sampler": "random",
                "n_trials": 5,
                "max_parallel": 2,
            }
        )
    )
    done = run_cli(server.url, "sweeps", "create", str(spec), "--json")
    assert done.returncode == 0, done.stderr
    sweep_id = json.loads(done.stdout)["sweep_id"]
    wait_sweep(server, sweep_id, lambda s: sum(t["state"] == "running" for t in s["trials"]) == 2)
    cancelled = run_cli(server.url, "sweeps", "cancel", sweep_id[:8])
    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancelled" in cancelled.stdout
    sweep = wait_sweep(
        server, sweep_id, lambda s: all(t["run_status"] == "cancelled" for t in s["trials"])
    )
    assert sweep["status"] == "cancelled" and len(sweep["trials"]) == 2
    time.sleep(2)  # no controller asks for more once the sweep is cancelled
    assert len(get(server, f"/api/sweeps/{sweep_id}")["trials"]) == 2
    assert_no_child_left(cluster["logs"])
    again = run_cli(server.url, "sweeps", "cancel", sweep_id)
    assert again.returncode == 0  # repeating is harmless

    shown = run_cli(server.url, "sweeps", "show", sweep_id[:8])
    assert shown.returncode == 0 and "cancelled" in shown.stdout
    listed = run_cli(server.url, "sweeps", "list")
    assert listed.returncode == 0 and sweep_id[:8] in listed.stdout

    # A short sweep followed to the end by the CLI.
    spec.write_text(
        json.dumps(
            {
                "dataset_key": dataset,
                "name": "followed",
                "base": {"max_steps": 2},
                "space": {"learning_rate": {"type": "categorical", "choices": [1e-2, 1e-3]}},
                "sampler": "grid",
                "n_trials": 2,
                "max_parallel": 2,
            }
        )
    )
    followed = run_cli(server.url, "sweeps", "create", str(spec), "--follow")
    assert followed.returncode == 0, followed.stdout + followed.stderr
    assert "trial 0 complete" in followed.stdout or "trial 1 complete" in followed.stdout
    assert "best: trial" in followed.stdout and "completed" in followed.stdout

    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {"dataset_key": dataset, "space": {"seedz": {"type": "int", "low": 1, "high": 2}}}
        )
    )
    refused = run_cli(server.url, "sweeps", "create", str(bad))
    assert refused.returncode == 1 and "cannot search over seedz" in refused.stderr
    missing = run_cli(server.url, "sweeps", "show", "abcdef12")
    assert missing.returncode == 1 and "no sweep id starts with" in missing.stderr
    assert_no_child_left(cluster["logs"])
