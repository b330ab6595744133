"""Reproducible runs through the queue: the same traces generated twice (fresh ids, later
created_at) build the same dataset, and the same run request on each gives the same loss at
every step and the same evaluation outputs. API (in-process) -> PostgreSQL -> `tunix-rt worker`
subprocess -> training child."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.training.test_through_worker import (  # noqa: F401 (fixtures)
    enqueue,
    start_worker,
    wait_terminal,
    worker_env,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.training,
    pytest.mark.parametrize("backend", ["postgresql"], indirect=True),
]

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TRACES = {"task": "high_card_duel", "count": 200, "seed": 21}
BUILD = {"selection_strategy": "random", "seed": 4, "holdout_fraction": 0.06}
RUN = {
    "max_steps": 25,
    "save_every_steps": 25,
    "batch_size": 8,
    "seed": 7,
    "eval_max_examples": 10,
    "eval_max_new_tokens": 40,
}


async def build_from_fresh_traces(client: httpx.AsyncClient, version: str) -> dict[str, Any]:
    """Generate the traces (again) and build a dataset of only this generation's copies."""
    newest = (await client.get("/api/traces", params={"limit": 1})).json()["data"]
    generated = await client.post("/api/traces/generate", json=TRACES)
    assert generated.status_code == 201, generated.text
    filters: dict[str, Any] = {"task": TRACES["task"]}
    if newest:
        filters["created_after"] = newest[0]["created_at"]
    built = await client.post(
        "/api/datasets/build",
        json={"dataset_name": "rep", "dataset_version": version, "filters": filters, **BUILD},
    )
    assert built.status_code == 201, built.text
    return dict(built.json())


async def sft_export(client: httpx.AsyncClient, key: str) -> str:
    response = await client.get(f"/api/datasets/{key}/export.jsonl", params={"format": "tunix_sft"})
    assert response.status_code == 200, response.text
    return response.text


async def read_eval_json(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """eval.json as the run's artifact (downloaded by artifact id)."""
    artifacts = (await client.get(f"/api/tunix/runs/{run_id}/artifacts")).json()
    (artifact_id,) = [a["id"] for a in artifacts if a["name"] == "eval.json"]
    response = await client.get(f"/api/tunix/runs/{run_id}/artifacts/{artifact_id}/download")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_same_traces_and_seeds_give_the_same_losses_and_evaluation(
    client: httpx.AsyncClient,
    start_worker: Callable[..., Any],  # noqa: F811 (the imported fixture)
) -> None:
    first = await build_from_fresh_traces(client, "a")
    second = await build_from_fresh_traces(client, "b")
    assert first["trace_count"] == second["trace_count"] == TRACES["count"]
    assert first["holdout_count"] >= RUN["eval_max_examples"]
    assert first["content_hash"] == second["content_hash"]
    exports = [await sft_export(client, m["dataset_key"]) for m in (first, second)]
    assert set(UUID_RE.findall(exports[0])).isdisjoint(UUID_RE.findall(exports[1]))
    assert UUID_RE.sub("<id>", exports[0]) == UUID_RE.sub("<id>", exports[1])

    start_worker("worker")
    run_ids = [await enqueue(client, m["dataset_key"], **RUN) for m in (first, second)]
    losses, outputs = [], []
    for run_id in run_ids:
        run = await wait_terminal(client, run_id, timeout_s=480)
        assert run["status"] == "completed", run
        metrics = await client.get(f"/api/tunix/runs/{run_id}/metrics", params={"name": "loss"})
        losses.append([(row["step"], row["value"]) for row in metrics.json()["data"]])
        examples = (await read_eval_json(client, run_id))["examples"]
        outputs.append(
            [(e["prompt"], e["task"], e["generated"], e["extracted_answer"]) for e in examples]
        )
        stored = await client.get("/api/traces", params={"source": f"run:{run_id}", "limit": 100})
        assert [t["task"] for t in stored.json()["data"]] == [TRACES["task"]] * len(examples)

    assert [step for step, _ in losses[0]] == list(range(1, RUN["max_steps"] + 1))
    assert losses[0] == losses[1]  # exactly: same data order, same seed, same arithmetic
    assert len(outputs[0]) == RUN["eval_max_examples"]
    assert {task for _, task, _, _ in outputs[0]} == {TRACES["task"]}
    assert outputs[0] == outputs[1]
    # The model outputs stay out of the default trace list.
    listed = (await client.get("/api/traces", params={"limit": 100})).json()["data"]
    assert all(not str(t["source"]).startswith("run:") for t in listed)
