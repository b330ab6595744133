"""Evaluation jobs (POST /api/evaluations) through the real queue and an in-process worker
running the fixture child, on both databases: the record goes pending -> completed, the
evaluated checkpoint is pinned, cancel and failure reach the record, bad requests are 4xx."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.integration.test_worker import running_worker
from tests.integration.worker_helpers import Sessions, attempt_dir, wait_terminal
from tunix_rt.db import models
from tunix_rt.settings import Settings


@pytest.fixture
async def dataset_key(client: httpx.AsyncClient) -> str:
    generated = await client.post(
        "/api/traces/generate", json={"task": "high_card_duel", "count": 40, "seed": 3}
    )
    assert generated.status_code == 201, generated.text
    built = await client.post(
        "/api/datasets/build",
        json={
            "dataset_name": "evaljobs",
            "dataset_version": "1",
            "filters": {"task": "high_card_duel"},
            "holdout_fraction": 0.25,
            "seed": 0,
        },
    )
    assert built.status_code == 201, built.text
    return str(built.json()["dataset_key"])


async def trained_run(
    client: httpx.AsyncClient, settings: Settings, sessions: Sessions, dataset_key: str
) -> str:
    response = await client.post("/api/tunix/run", json={"dataset_key": dataset_key})
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    async with running_worker(settings, sessions, "ok"):
        run = await wait_terminal(sessions, uuid.UUID(run_id))
    assert run.status == "completed"
    return str(run_id)


async def submit(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/evaluations", json=body)


async def test_an_evaluation_job_fills_its_record_and_pins_the_checkpoint(
    client: httpx.AsyncClient, settings: Settings, sessions: Sessions, dataset_key: str
) -> None:
    run_id = await trained_run(client, settings, sessions, dataset_key)
    response = await submit(client, run_id=run_id, split="all", max_examples=7)
    assert response.status_code == 202, response.text
    submitted = response.json()
    assert submitted["status"] == "pending" and submitted["step"] == 3
    evaluation_id, job_id = submitted["evaluation_id"], submitted["job_id"]
    record = (await client.get(f"/api/evaluations/{evaluation_id}")).json()
    assert record["status"] == "pending" and record["job_id"] == job_id
    assert record["run_id"] == run_id and record["split"] == "all"

    async with running_worker(settings, sessions, "ok"):
        job = await wait_terminal(sessions, uuid.UUID(job_id))
    assert job.status == "completed" and job.kind == "eval", job.error
    # The job's attempt got the run's checkpoint and the whole dataset (split "all").
    job_dir = attempt_dir(settings, uuid.UUID(job_id), job.fence)
    assert (job_dir / "checkpoints" / "3" / "weights.bin").read_bytes() == b"w" * 100
    assert len((job_dir / "data" / "eval.jsonl").read_text().splitlines()) == 40
    spec = (job_dir / "spec.json").read_text()
    assert '"task": "evaluate"' in spec and '"checkpoint_step": 3' in spec
    assert '"max_examples": 7' in spec

    record = (await client.get(f"/api/evaluations/{evaluation_id}")).json()
    assert record["status"] == "completed"
    assert record["summary"]["n"] == 2 and record["summary"]["exact_match"] == 0.5
    assert record["summary"]["ci_low"] < 0.5 < record["summary"]["ci_high"]
    examples = (await client.get(f"/api/evaluations/{evaluation_id}/examples")).json()
    assert [e["correct"] for e in examples["data"]] == [True, False]
    # The run's own end-of-run evaluation is still there, next to the job's.
    listed = (await client.get(f"/api/evaluations?run_id={run_id}")).json()["data"]
    assert sorted(e["job_id"] is None for e in listed) == [False, True]
    async with sessions() as session:
        pins = (
            await session.execute(
                select(models.CheckpointPin.step, models.CheckpointPin.reason).where(
                    models.CheckpointPin.run_id == uuid.UUID(run_id)
                )
            )
        ).all()
    assert pins == [(3, f"evaluation:{evaluation_id}")]


async def test_a_failed_or_cancelled_job_shows_on_the_record(
    client: httpx.AsyncClient, settings: Settings, sessions: Sessions, dataset_key: str
) -> None:
    run_id = await trained_run(client, settings, sessions, dataset_key)
    cancelled = (await submit(client, run_id=run_id, checkpoint=3)).json()
    response = await client.post(f"/api/evaluations/{cancelled['evaluation_id']}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    again = await client.post(f"/api/evaluations/{cancelled['evaluation_id']}/cancel")
    assert again.status_code == 409 and "already ended" in again.text

    failing = (await submit(client, run_id=run_id, max_new_tokens=8)).json()
    async with running_worker(settings, sessions, "fail", max_attempts=1):
        job = await wait_terminal(sessions, uuid.UUID(failing["job_id"]))
    assert job.status == "failed"
    record = (await client.get(f"/api/evaluations/{failing['evaluation_id']}")).json()
    assert record["status"] == "failed" and record["summary"]["n"] == 0
    # Neither reaches the leaderboard.
    board = (await client.get(f"/api/leaderboard?dataset_key={dataset_key}")).json()["data"]
    assert {row["evaluation_id"] for row in board} == {
        e["evaluation_id"]
        for e in (await client.get(f"/api/evaluations?run_id={run_id}")).json()["data"]
        if e["job_id"] is None
    }


async def test_bad_evaluation_requests_are_refused_clearly(
    client: httpx.AsyncClient, settings: Settings, sessions: Sessions, dataset_key: str
) -> None:
    missing = await submit(client, run_id=str(uuid.uuid4()))
    assert missing.status_code == 404 and "not found" in missing.text
    pending = await client.post("/api/tunix/run", json={"dataset_key": dataset_key})
    no_checkpoint = await submit(client, run_id=pending.json()["run_id"])
    assert no_checkpoint.status_code == 409 and "no committed checkpoint" in no_checkpoint.text
    await client.post(f"/api/tunix/runs/{pending.json()['run_id']}/cancel")
    run_id = await trained_run(client, settings, sessions, dataset_key)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"checkpoint": "best"}, 409, "no best checkpoint"),
        ({"checkpoint": 7}, 404, "no checkpoint at step 7 (it has: 3)"),
        ({"dataset_key": "nope-v1"}, 404, "nope-v1"),
        ({"split": "validation"}, 422, "split"),
        ({"max_examples": 0}, 422, "max_examples"),
        ({"checkpoint": "first"}, 422, "checkpoint"),
        ({"colour": "red"}, 422, "colour"),
        ({"dataset_key": "a\x00b"}, 422, "NUL"),
    ]
    for body, status, words in cases:
        response = await submit(client, run_id=run_id, **body)
        assert response.status_code == status, (body, response.text)
        assert words in response.text, (body, response.text)
    job_id = (await submit(client, run_id=run_id)).json()["job_id"]
    of_a_job = await submit(client, run_id=job_id)
    assert of_a_job.status_code == 422 and "training run" in of_a_job.text
