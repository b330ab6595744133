"""A real two-trial sweep of tiny Tunix training runs: the controller and a worker in
process, the objective and intermediate values from real evaluations, the best trial's
real Orbax checkpoint pinned."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.integration.worker_helpers import Sessions
from tunix_rt.settings import Settings
from tunix_rt.sweeps.controller import SweepController
from tunix_rt.worker.context import WorkerContext
from tunix_rt.worker.loop import Worker

pytestmark = [pytest.mark.slow, pytest.mark.training]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_real_two_trial_sweep_records_real_evaluations(
    settings: Settings, sessions: Sessions, client: httpx.AsyncClient, jax_cache_dir: str
) -> None:
    generated = await client.post(
        "/api/traces/generate", json={"task": "high_card_duel", "count": 60, "seed": 2}
    )
    assert generated.status_code == 201, generated.text
    built = await client.post(
        "/api/datasets/build",
        json={
            "dataset_name": "sweep-duel",
            "dataset_version": "1",
            "filters": {"task": "high_card_duel"},
            "holdout_fraction": 0.1,
            "seed": 0,
        },
    )
    assert built.status_code == 201, built.text
    created = await client.post(
        "/api/sweeps",
        json={
            "dataset_key": built.json()["dataset_key"],
            "base": {
                "model_id": "tiny",
                "max_steps": 4,
                "batch_size": 8,
                "save_every_steps": 2,
                "eval_every_steps": 2,
                "eval_subset_size": 4,
                "eval_max_examples": 6,
                "eval_max_new_tokens": 8,
            },
            "space": {"learning_rate": {"type": "categorical", "choices": [3e-3, 1e-4]}},
            "sampler": "grid",
            "n_trials": 2,
            "max_parallel": 2,
            "seed": 0,
        },
    )
    assert created.status_code == 202, created.text
    sweep_id = created.json()["sweep_id"]
    wsettings = settings.model_copy(update={"jax_cache_dir": Path(jax_cache_dir)})
    controller = SweepController(wsettings, sessions, None, interval_s=0.5)
    worker = Worker(WorkerContext(settings=wsettings, sessions=sessions, hub=None))
    await controller.start()
    worker.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 600
        while True:
            sweep = (await client.get(f"/api/sweeps/{sweep_id}")).json()
            if sweep["status"] != "running" or loop.time() > deadline:
                break
            await asyncio.sleep(1)
    finally:
        await worker.stop(drain_timeout_s=0)
        await controller.stop()
    assert sweep["status"] == "completed", sweep
    trials = sweep["trials"]
    assert [t["state"] for t in trials] == ["complete", "complete"], trials
    for trial in trials:
        records = (await client.get(f"/api/evaluations?run_id={trial['run_id']}")).json()["data"]
        assert trial["value"] == pytest.approx(records[0]["summary"]["exact_match"])
        assert [step for step, _ in trial["intermediate"]] == [2, 4]
    best = max(trials, key=lambda t: (t["value"], -t["number"]))
    assert sweep["best_trial"]["number"] == best["number"]
    pinned = await client.post(f"/api/sweeps/{sweep_id}/pin-best")
    assert pinned.status_code == 200, pinned.text
    listing = (await client.get(f"/api/tunix/runs/{best['run_id']}/checkpoints")).json()
    assert any(f"sweep:{sweep_id}" in c["pinned_by"] for c in listing["checkpoints"])
