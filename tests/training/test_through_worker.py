"""Real runs through the queue: API (in-process app) -> PostgreSQL -> `tunix-rt worker`
subprocess -> training child. Only the contract is used: HTTP, rows, files.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tunix_rt.settings import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.training,
    # One backend is enough here (the queue suite covers both); PostgreSQL is the
    # multi-worker production backend.
    pytest.mark.parametrize("backend", ["postgresql"], indirect=True),
]

WORKER = [str(Path(sys.executable).with_name("tunix-rt")), "worker"]
TERMINAL = {"completed", "failed", "cancelled", "timeout"}


@pytest.fixture
def worker_env(settings: Settings, jax_cache_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNIX_RT_")}
    env.update(
        TUNIX_RT_HOME=str(settings.home),
        TUNIX_RT_DATABASE_URL=settings.database_url,
        TUNIX_RT_ARTIFACT_ROOT=str(settings.artifacts),
        TUNIX_RT_HEARTBEAT_INTERVAL_S="0.5",
        TUNIX_RT_LEASE_S="8",
        TUNIX_RT_REAPER_INTERVAL_S="0.5",
        TUNIX_RT_POLL_INTERVAL_S="0.2",
        TUNIX_RT_CANCEL_GRACE_S="30",
        TUNIX_RT_JAX_CACHE_DIR=jax_cache_dir,
    )
    return env


@pytest.fixture
def start_worker(
    worker_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(WORKER, env=worker_env, stdout=log, stderr=log)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.send_signal(signal.SIGINT)  # second signal: no drain wait
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
async def dataset_key(client: httpx.AsyncClient) -> AsyncIterator[str]:
    generated = await client.post(
        "/api/traces/generate", json={"task": "high_card_duel", "count": 240, "seed": 5}
    )
    assert generated.status_code == 201, generated.text
    built = await client.post(
        "/api/datasets/build",
        json={
            "dataset_name": "worker-duel",
            "dataset_version": "1",
            "filters": {"task": "high_card_duel"},
            "holdout_fraction": 0.1,
            "seed": 0,
        },
    )
    assert built.status_code == 201, built.text
    yield built.json()["dataset_key"]


async def enqueue(client: httpx.AsyncClient, dataset_key: str, **overrides: Any) -> str:
    body = {
        "dataset_key": dataset_key,
        "model_id": "tiny",
        "max_steps": 40,
        "save_every_steps": 20,
        "eval_max_examples": 12,
        "eval_max_new_tokens": 40,
        **overrides,
    }
    response = await client.post("/api/tunix/run", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


async def wait_until(
    client: httpx.AsyncClient, path: str, check: Callable[[Any], bool], timeout_s: float
) -> Any:
    deadline = time.monotonic() + timeout_s
    body: Any = None
    while time.monotonic() < deadline:
        response = await client.get(path)
        if response.status_code == 200:
            body = response.json()
            if check(body):
                return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"{path} never satisfied the check; last: {body}")


async def wait_terminal(client: httpx.AsyncClient, run_id: str, timeout_s: float = 240) -> Any:
    await wait_until(
        client, f"/api/tunix/runs/{run_id}/status", lambda b: b["status"] in TERMINAL, timeout_s
    )
    return (await client.get(f"/api/tunix/runs/{run_id}")).json()


async def loss_steps(client: httpx.AsyncClient, run_id: str) -> list[int]:
    rows = (await client.get(f"/api/tunix/runs/{run_id}/metrics?name=loss")).json()["data"]
    return [row["step"] for row in rows]


async def test_tiny_run_completes_with_metrics_traces_and_checkpoint(
    client: httpx.AsyncClient, dataset_key: str, start_worker: Callable[..., Any]
) -> None:
    start_worker("worker")
    run_id = await enqueue(client, dataset_key, eval_every_steps=20, eval_subset_size=8)
    run = await wait_terminal(client, run_id)
    assert run["status"] == "completed", run
    assert await loss_steps(client, run_id) == list(range(1, 41))
    assert run["eval"]["n"] == 12
    # Evaluations during training: eval/* metrics at every eval_every_steps step.
    mid = (await client.get(f"/api/tunix/runs/{run_id}/metrics?name=eval/exact_match")).json()
    assert [row["step"] for row in mid["data"]] == [20, 40]
    assert all(0.0 <= row["value"] <= 1.0 for row in mid["data"])
    # The end-of-run evaluation is an evaluation record with its examples.
    records = (await client.get(f"/api/evaluations?run_id={run_id}")).json()["data"]
    assert len(records) == 1 and records[0]["summary"]["n"] == 12 and records[0]["step"] == 40
    evaluation = (await client.get(f"/api/tunix/runs/{run_id}/eval")).json()
    assert len(evaluation["examples"]) == 12
    traces = (await client.get(f"/api/traces?source=run:{run_id}&limit=100")).json()["data"]
    assert len(traces) == 12
    artifacts = (await client.get(f"/api/tunix/runs/{run_id}/artifacts")).json()
    names = {a["name"] for a in (artifacts["data"] if isinstance(artifacts, dict) else artifacts)}
    assert any(name.startswith("checkpoints") and name.endswith("40") for name in names), names
    assert "eval.json" in names


async def test_cancel_mid_training_ends_cancelled_with_a_final_checkpoint(
    client: httpx.AsyncClient,
    dataset_key: str,
    start_worker: Callable[..., Any],
    settings: Settings,
) -> None:
    start_worker("worker")
    run_id = await enqueue(client, dataset_key, max_steps=2000, save_every_steps=1000)
    await wait_until(
        client, f"/api/tunix/runs/{run_id}/metrics?name=loss", lambda b: len(b["data"]) >= 10, 180
    )
    assert (await client.post(f"/api/tunix/runs/{run_id}/cancel")).status_code == 200
    run = await wait_terminal(client, run_id, timeout_s=60)
    assert run["status"] == "cancelled", run
    last = max(await loss_steps(client, run_id))
    assert 10 <= last < 2000
    # The final checkpoint is the step the child stopped at, not a periodic one.
    assert (settings.artifacts / run_id / "attempts" / "1" / "checkpoints" / str(last)).is_dir()


async def test_killed_worker_run_resumes_from_checkpoint_on_another_worker(
    client: httpx.AsyncClient,
    dataset_key: str,
    start_worker: Callable[..., Any],
    settings: Settings,
) -> None:
    first = start_worker("first")
    run_id = await enqueue(client, dataset_key, max_steps=60, save_every_steps=20, max_attempts=3)
    await wait_until(
        client, f"/api/tunix/runs/{run_id}/metrics?name=loss", lambda b: len(b["data"]) >= 25, 180
    )
    first.kill()  # SIGKILL: no drain, no hand-back; only the lease can recover the run
    first.wait()
    start_worker("second")
    run = await wait_terminal(client, run_id, timeout_s=240)
    assert run["status"] == "completed", run
    assert run["attempt"] == 2
    assert sorted(set(await loss_steps(client, run_id))) == list(range(1, 61))
    snapshot = (await client.get(f"/api/tunix/runs/{run_id}/logs/snapshot?tail=10000")).json()
    resumed = [
        line["text"] for line in snapshot["lines"] if "resuming from checkpoint" in line["text"]
    ]
    assert resumed, "the second attempt did not resume from a checkpoint"
    step = int(resumed[-1].rsplit(" ", 1)[1])
    assert step >= 20
    # Attempt 2 wrote in its own directory, from the checkpoint handed over to it.
    assert (settings.artifacts / run_id / "attempts" / "2" / "eval.json").is_file()
