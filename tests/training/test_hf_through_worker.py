"""A Hugging Face checkpoint trains through the service: POST /api/tunix/run with just a
model_path (the tiny transformers-made Qwen3 fixture under a configured model root) and
lora_rank -> PostgreSQL -> a `tunix-rt worker` subprocess -> the training child, which
uses the checkpoint's own tokenizer and ChatML template; metrics, checkpoint, evaluation
and the rendered prompt come back through the API."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tunix_rt.settings import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.training,
    pytest.mark.parametrize("backend", ["postgresql"], indirect=True),
]

FIXTURES = (Path(__file__).resolve().parents[1] / "fixtures" / "hf").resolve()
WORKER = [str(Path(sys.executable).with_name("tunix-rt")), "worker"]
TERMINAL = {"completed", "failed", "cancelled", "timeout"}
RENDERED = "prompt format chat_template, first training prompt as the model sees it: "


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"model_roots": [FIXTURES]})


@pytest.fixture
def worker(settings: Settings, jax_cache_dir: str, tmp_path: Path) -> Iterator[None]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNIX_RT_")}
    env.update(
        TUNIX_RT_HOME=str(settings.home),
        TUNIX_RT_DATABASE_URL=settings.database_url,
        TUNIX_RT_ARTIFACT_ROOT=str(settings.artifacts),
        TUNIX_RT_MODEL_ROOTS=str(FIXTURES),
        TUNIX_RT_HEARTBEAT_INTERVAL_S="0.5",
        TUNIX_RT_LEASE_S="15",
        TUNIX_RT_POLL_INTERVAL_S="0.2",
        TUNIX_RT_JAX_CACHE_DIR=jax_cache_dir,
    )
    with (tmp_path / "worker.log").open("wb") as log:
        process = subprocess.Popen(WORKER, env=env, stdout=log, stderr=log)
    yield
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)  # second signal: no drain wait
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def build_dataset(client: httpx.AsyncClient) -> str:
    generated = await client.post(
        "/api/traces/generate", json={"task": "high_card_duel", "count": 40, "seed": 5}
    )
    assert generated.status_code == 201, generated.text
    body = {
        "dataset_name": "hf-worker-duel",
        "dataset_version": "1",
        "filters": {"task": "high_card_duel"},
        "holdout_fraction": 0.1,
        "seed": 0,
    }
    built = await client.post("/api/datasets/build", json=body)
    assert built.status_code == 201, built.text
    return str(built.json()["dataset_key"])


async def wait_terminal(client: httpx.AsyncClient, run_id: str, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    status = None
    while time.monotonic() < deadline:
        status = (await client.get(f"/api/tunix/runs/{run_id}/status")).json()["status"]
        if status in TERMINAL:
            return (await client.get(f"/api/tunix/runs/{run_id}")).json()
        await asyncio.sleep(0.3)
    raise AssertionError(f"run {run_id} still {status} after {timeout_s}s")


async def test_qwen3_checkpoint_trains_with_lora_through_the_worker(
    client: httpx.AsyncClient, worker: None
) -> None:
    request = {
        "dataset_key": await build_dataset(client),
        "model_path": str(FIXTURES / "qwen3_tied"),
        "lora_rank": 4,
        "max_steps": 2,
        "batch_size": 4,
        "save_every_steps": 2,
        "learning_rate": 1e-3,
        "eval_max_examples": 2,
        "eval_max_new_tokens": 4,
    }
    created = await client.post("/api/tunix/run", json=request)
    assert created.status_code == 202, created.text
    run_id = created.json()["run_id"]
    run = await wait_terminal(client, run_id, timeout_s=240)
    assert run["status"] == "completed", run
    params = (await client.get(f"/api/tunix/runs/{run_id}/params")).json()["data"]
    assert params["model.family"] == "qwen3" and params["hyperparameters.lora_rank"] == 4
    assert params["tokenizer.kind"] == "hf"
    losses = (await client.get(f"/api/tunix/runs/{run_id}/metrics?name=loss")).json()["data"]
    assert [row["step"] for row in losses] == [1, 2]
    assert all(0 < row["value"] < 100 for row in losses)
    assert run["eval"]["n"] == 2
    artifacts = (await client.get(f"/api/tunix/runs/{run_id}/artifacts")).json()
    rows = artifacts["data"] if isinstance(artifacts, dict) else artifacts
    names = {a["name"] for a in rows}
    assert any(n.startswith("checkpoints") and n.endswith("2") for n in names), names
    snapshot = (await client.get(f"/api/tunix/runs/{run_id}/logs/snapshot?tail=1000")).json()
    texts = [line["text"] for line in snapshot["lines"]]
    assert any("(LoRA)" in text for text in texts), texts[-20:]
    rendered = [text[len(RENDERED) + 1 :] for text in texts if text.startswith(RENDERED)]
    assert rendered and rendered[0].startswith("<|im_start|>user\\n"), texts[-20:]
