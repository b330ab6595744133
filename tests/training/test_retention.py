"""Retention with real Tunix training on CPU: Orbax keeps working while the worker deletes
the step directories it saved, and the best checkpoint (not the latest) survives."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.integration.worker_helpers import Sessions, wait_terminal
from tunix_rt.db import models
from tunix_rt.runs import queue
from tunix_rt.runs.best import choose_best
from tunix_rt.settings import Settings
from tunix_rt.worker.context import WorkerContext
from tunix_rt.worker.loop import Worker

pytestmark = [pytest.mark.slow, pytest.mark.training]


def test_orbax_saves_and_restores_after_older_step_directories_vanish(tmp_path: Path) -> None:
    import shutil

    from flax import nnx
    from tunix.sft.checkpoint_manager import CheckpointManager

    from tunix_rt.training.sft import checkpoint_options

    root = tmp_path / "checkpoints"
    model = nnx.Linear(4, 3, rngs=nnx.Rngs(0))
    manager = CheckpointManager(str(root), checkpoint_options(2))
    bias = model.bias
    assert bias is not None
    saved = []
    for step in range(1, 9):
        bias.value = bias.value + 1.0
        if manager.save(step, model):
            saved.append(step)
        if len(saved) >= 2:  # what the worker does with keep 1: the older ones go
            for old in saved[:-1]:
                shutil.rmtree(root / str(old), ignore_errors=True)
    assert saved == [2, 4, 6, 8]
    assert manager.save(9, model, force=True)  # train() forces the final step
    manager.close()
    assert sorted(p.name for p in root.iterdir()) == ["8", "9"]

    # A fresh process (a resumed attempt) restores the latest step.
    fresh = nnx.Linear(4, 3, rngs=nnx.Rngs(1))
    reopened = CheckpointManager(str(root), checkpoint_options(2))
    step, _ = reopened.maybe_restore(fresh)
    reopened.close()
    assert step == 9
    assert fresh.bias is not None and (fresh.bias.value == bias.value).all()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_best_checkpoint_survives_retention_in_a_real_run(
    settings: Settings, sessions: Sessions, client: httpx.AsyncClient, jax_cache_dir: str
) -> None:
    generated = await client.post(
        "/api/traces/generate", json={"task": "high_card_duel", "count": 80, "seed": 5}
    )
    assert generated.status_code == 201, generated.text
    built = await client.post(
        "/api/datasets/build",
        json={
            "dataset_name": "retention-duel",
            "dataset_version": "1",
            "filters": {"task": "high_card_duel"},
            "holdout_fraction": 0.1,
            "seed": 0,
        },
    )
    assert built.status_code == 201, built.text
    submitted = await client.post(
        "/api/tunix/run",
        json={
            "dataset_key": built.json()["dataset_key"],
            "model_id": "tiny",
            "max_steps": 6,
            "batch_size": 8,
            "save_every_steps": 1,
            "keep_checkpoints": 1,
            "eval_every_steps": 1,
            "eval_subset_size": 4,
            "eval_max_examples": 4,
            "eval_max_new_tokens": 8,
        },
    )
    assert submitted.status_code == 202, submitted.text
    run_id = uuid.UUID(submitted.json()["run_id"])
    ctx = WorkerContext(
        settings=settings.model_copy(update={"jax_cache_dir": Path(jax_cache_dir)}),
        sessions=sessions,
        hub=None,
    )
    worker = Worker(ctx)
    worker.start()
    try:
        run = await wait_terminal(sessions, run_id, timeout_s=300)
    finally:
        await worker.stop(drain_timeout_s=0)
    assert run.status == "completed", run.error

    async with sessions() as session:
        run = await queue.read_run(session, run_id)
        rows = await session.execute(
            select(models.RunMetric.step, models.RunMetric.value).where(
                models.RunMetric.run_id == run_id, models.RunMetric.name == "eval/exact_match"
            )
        )
        values = {step: value for step, value in rows}
    # Every step is saved; every step but the first is evaluated (the trainer's step-end hook
    # first fires after step 2), so step 1 is a checkpoint without a value: never the best.
    assert sorted(values) == [2, 3, 4, 5, 6]
    expected = choose_best(values, "max")
    assert expected is not None and (run.best_step, run.best_value) == expected
    assert run.best_step != 6, f"this test needs a best that is not the latest: {values}"
    assert (run.result or {})["pruned_steps"] == sorted(set(range(1, 6)) - {run.best_step})

    listing = (await client.get(f"/api/tunix/runs/{run_id}/checkpoints")).json()
    assert [(c["step"], c["best"], c["latest"]) for c in listing["checkpoints"]] == [
        (run.best_step, True, False),
        (6, False, True),
    ]
    checkpoints = settings.artifacts / str(run_id) / "attempts" / "1" / "checkpoints"
    assert sorted(int(p.name) for p in checkpoints.iterdir()) == [run.best_step, 6]
    # The best one is a whole Orbax checkpoint: a new attempt could restore it.
    assert any((checkpoints / str(run.best_step)).rglob("*"))
