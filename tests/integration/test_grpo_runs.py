"""GRPO runs started from an SFT run's checkpoint, on both databases, through the real queue
and an in-process worker running fixture children (tests/fixtures/grpo_child.py): the
request is checked and its checkpoint resolved and pinned at submit, the attempt gets the
checkpoint and tokenizer under init/, the rollouts the child writes become rows (fenced by
the attempt) served by the rollouts API and turned into traces."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from tests.integration.test_evaluation_jobs import dataset_key, trained_run  # noqa: F401
from tests.integration.test_exports import pins
from tests.integration.test_retention import claim
from tests.integration.test_worker import running_worker
from tests.integration.worker_helpers import Sessions, attempt_dir, enqueue, wait_terminal
from tunix_rt.db import models
from tunix_rt.runs import artifacts
from tunix_rt.settings import Settings
from tunix_rt.training.spec import load_spec
from tunix_rt.worker.context import WorkerContext
from tunix_rt.worker.events import EventHandler
from tunix_rt.worker.loop import Worker

GRPO_CHILD = str(Path(__file__).resolve().parents[1] / "fixtures" / "grpo_child.py")
SAMPLE_CHILD = str(Path(__file__).resolve().parents[1] / "fixtures" / "sample_child.py")
GRPO = {"num_generations": 4, "rollout_every_steps": 2, "rollout_prompts": 2}


@asynccontextmanager
async def grpo_worker(settings: Settings, sessions: Sessions) -> AsyncIterator[Worker]:
    custom = settings.model_copy(update={"worker_command": [sys.executable, GRPO_CHILD, "ok"]})
    worker = Worker(WorkerContext(settings=custom, sessions=sessions, hub=None))
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop(drain_timeout_s=0)


async def submit(client: httpx.AsyncClient, dataset_key: str, **body: Any) -> httpx.Response:  # noqa: F811
    return await client.post("/api/tunix/run", json={"dataset_key": dataset_key, **body})


async def rollouts(client: httpx.AsyncClient, run_id: str, **params: Any) -> httpx.Response:
    return await client.get(f"/api/tunix/runs/{run_id}/rollouts", params=params)


async def test_a_grpo_run_starts_from_the_sft_checkpoint_and_stores_its_rollouts(
    make_client: Any,
    settings: Settings,
    sessions: Sessions,
    dataset_key: str,  # noqa: F811
) -> None:
    async with make_client(sample_command=[sys.executable, SAMPLE_CHILD, "echo"]) as client:
        sft_id = await trained_run(client, settings, sessions, dataset_key)
        response = await submit(
            client,
            dataset_key,
            algorithm="grpo",
            init_from={"run_id": sft_id, "checkpoint": "latest"},
            max_steps=4,
            grpo=GRPO,
        )
        assert response.status_code == 202, response.text
        submitted = response.json()
        run_id = submitted["run_id"]
        # The step is resolved at submit, written into the request and pinned on the source.
        assert submitted["request"]["init_from"] == {"run_id": sft_id, "checkpoint": 3}
        assert submitted["request"]["grpo"]["num_generations"] == 4
        assert submitted["request"]["grpo"]["beta"] == 0.04  # defaults filled in
        assert submitted["model_id"] == "tiny"
        assert await pins(sessions, sft_id) == [(3, f"init:{run_id}")]

        async with grpo_worker(settings, sessions):
            run = await wait_terminal(sessions, uuid.UUID(run_id))
        assert run.status == "completed", run.error
        run_dir = attempt_dir(settings, run.id, run.fence)
        assert (run_dir / "init" / "checkpoints" / "3" / "weights.bin").read_bytes() == b"w" * 100
        assert (run_dir / "init" / "tokenizer.model").read_bytes() == b"t" * 10
        spec = json.loads((run_dir / "spec.json").read_text())
        assert spec["algorithm"] == "grpo" and spec["model"] == {"preset": "tiny"}
        assert spec["init"] == {
            "checkpoint_dir": "init/checkpoints",
            "step": 3,
            "source_run_id": sft_id,
        }
        assert spec["tokenizer"] == {"kind": "file", "path": "init/tokenizer.model"}
        parsed = load_spec(run_dir / "spec.json")  # what the real child accepts
        assert parsed.init is not None and parsed.grpo is not None and parsed.init.step == 3
        assert (
            spec["grpo"]["rollout_every_steps"] == 2 and spec["hyperparameters"]["max_steps"] == 4
        )

        # Steps 1, 2 and 4 were sampled; the latest is shown by default, by prompt and generation.
        page = (await rollouts(client, run_id)).json()
        assert page["steps"] == [1, 2, 4] and page["step"] == 4 and page["total"] == 8
        keys = [(item["prompt_index"], item["generation"]) for item in page["items"]]
        assert keys == [(p, g) for p in range(2) for g in range(4)]
        lines = (run_dir / "rollouts/step-00000004.jsonl").read_text().splitlines()
        assert lines[-1] == "not a completion"  # skipped by the worker
        written = [json.loads(line) for line in lines[:-1]]
        first = page["items"][0]
        assert {
            k: first[k] for k in ("prompt", "completion", "answer", "rewards", "advantage")
        } == {k: written[0][k] for k in ("prompt", "completion", "answer", "rewards", "advantage")}
        assert first["correct"] and first["reward"] == 1.2
        # Filters within a step; they partition it.
        hacked = (await rollouts(client, run_id, step=1, filter="format_right_answer_wrong")).json()
        assert hacked["step"] == 1 and hacked["total"] == 2
        assert all(i["format_ok"] and not i["correct"] for i in hacked["items"])
        assert [i["generation"] for i in hacked["items"]] == [1, 1]
        right = (await rollouts(client, run_id, step=1, filter="correct")).json()
        wrong = (await rollouts(client, run_id, step=1, filter="wrong")).json()
        assert all(i["correct"] for i in right["items"]) and not any(
            i["correct"] for i in wrong["items"]
        )
        assert right["total"] + wrong["total"] == 8
        paged = (await rollouts(client, run_id, step=2, limit=3, offset=6)).json()
        assert [(i["prompt_index"], i["generation"]) for i in paged["items"]] == [(1, 2), (1, 3)]
        assert paged["total"] == 8
        # The files are artifacts of the run.
        names = {
            a["name"] for a in (await client.get(f"/api/tunix/runs/{run_id}/artifacts")).json()
        }
        assert {"rollouts/step-00000001.jsonl", "rollouts/step-00000004.jsonl"} <= names
        assert "init/tokenizer.model" in names

        # Chosen completions become traces: steps parsed from the completion, the answer, the
        # dataset's task and where they came from.
        chosen = [first["id"], hacked["items"][0]["id"]]
        made = await client.post(f"/api/tunix/runs/{run_id}/rollouts/traces", json={"ids": chosen})
        assert made.status_code == 201, made.text
        assert made.json()["created"] == 2
        trace = (await client.get(f"/api/traces/{made.json()['trace_ids'][1]}")).json()["payload"]
        assert trace["final_answer"] == "wrong"
        assert [s["content"] for s in trace["steps"]] == ["look at prompt 0", "step 1 generation 1"]
        assert trace["meta"]["source"] == "rollout" and trace["meta"]["run_id"] == run_id
        assert trace["meta"]["task"] == "high_card_duel" and trace["meta"]["step"] == 1
        assert trace["meta"]["format_ok"] and not trace["meta"]["correct"]

        # An evaluation of the GRPO run gets its checkpoint and the SFT run's tokenizer.
        evaluation = await client.post("/api/evaluations", json={"run_id": run_id})
        assert evaluation.status_code == 202, evaluation.text
        job_id = uuid.UUID(evaluation.json()["job_id"])
        async with running_worker(settings, sessions, "ok"):
            job = await wait_terminal(sessions, job_id)
        assert job.status == "completed", job.error
        job_dir = attempt_dir(settings, job_id, job.fence)
        assert (job_dir / "checkpoints" / "4" / "weights.bin").read_bytes() == b"g" * 100
        assert (job_dir / "tokenizer.model").read_bytes() == b"t" * 10
        job_spec = load_spec(job_dir / "spec.json")
        assert job_spec.task == "evaluate" and job_spec.evaluation.checkpoint_step == 4
        # So does a generation from it (the sample child echoes what it was staged with).
        generated = await client.post(
            f"/api/tunix/runs/{run_id}/generate", json={"prompts": ["2+2?"]}
        )
        assert generated.status_code == 200, generated.text
        assert generated.json()["completions"][0]["text"].startswith(
            "step 4 weights 100 tokenizer 10 model tiny"
        )
        # Deleting the run deletes its rollouts.
        assert (await client.delete(f"/api/tunix/runs/{run_id}")).status_code == 204
        assert await rollout_rows(sessions, uuid.UUID(run_id)) == []


async def test_rollouts_api_refusals(
    client: httpx.AsyncClient,
    settings: Settings,
    sessions: Sessions,
    dataset_key: str,  # noqa: F811
) -> None:
    missing = uuid.uuid4()
    assert (await rollouts(client, str(missing))).status_code == 404
    run_id = (await submit(client, dataset_key)).json()["run_id"]
    empty = await rollouts(client, run_id)
    assert empty.status_code == 200
    assert empty.json() == {"steps": [], "step": None, "total": 0, "items": []}
    assert (await rollouts(client, run_id, filter="hacked")).status_code == 422
    assert (await rollouts(client, run_id, step=-1)).status_code == 422
    assert (await rollouts(client, run_id, limit=0)).status_code == 422
    no_step = await rollouts(client, run_id, step=5)
    assert no_step.status_code == 404 and "no rollouts at step 5" in no_step.text
    traces = f"/api/tunix/runs/{run_id}/rollouts/traces"
    assert (await client.post(traces, json={"ids": []})).status_code == 422
    assert (await client.post(traces, json={"ids": ["xyz"]})).status_code == 422
    unknown = await client.post(traces, json={"ids": [str(missing)]})
    assert unknown.status_code == 404 and str(missing) in unknown.text
    other = await client.post(
        f"/api/tunix/runs/{missing}/rollouts/traces", json={"ids": [str(missing)]}
    )
    assert other.status_code == 404 and f"run {missing} not found" in other.text


async def test_grpo_request_refusals(
    client: httpx.AsyncClient,
    settings: Settings,
    sessions: Sessions,
    dataset_key: str,  # noqa: F811
) -> None:
    async def refused(status: int, text: str, **body: Any) -> None:
        response = await submit(client, dataset_key, **body)
        assert response.status_code == status, response.text
        assert text in response.text, response.text

    await refused(422, "algorithm grpo needs init_from", algorithm="grpo")
    await refused(422, "grpo settings need algorithm grpo", grpo={"beta": 0.1})
    unknown = str(uuid.uuid4())
    await refused(404, f"run {unknown} not found", algorithm="grpo", init_from={"run_id": unknown})
    pending = (await submit(client, dataset_key)).json()["run_id"]
    await refused(409, "no committed checkpoint", algorithm="grpo", init_from={"run_id": pending})
    dry = (await submit(client, dataset_key, dry_run=True)).json()["run_id"]
    await refused(422, "is a dry run", algorithm="grpo", init_from={"run_id": dry})

    sft_id = await trained_run(client, settings, sessions, dataset_key)
    source = {"run_id": sft_id}
    await refused(404, "no checkpoint at step 7", init_from={**source, "checkpoint": 7})
    await refused(409, "no best checkpoint", init_from={**source, "checkpoint": "best"})
    await refused(422, "init_from", init_from={**source, "checkpoint": "newest"})
    await refused(422, "init_from", init_from={**source, "checkpoint": True})
    await refused(422, "lora_rank: taken from the init_from run", init_from=source, lora_rank=4)
    await refused(422, "keeps its model", init_from=source, model_id="small")
    await refused(
        422, "num_generations", algorithm="grpo", init_from=source, grpo={"num_generations": 1}
    )
    assert await pins(sessions, sft_id) == []  # nothing refused was pinned

    # A dry run is checked the same way but pins nothing; an unknown step is refused.
    await refused(
        404, "no checkpoint at step 9", init_from={**source, "checkpoint": 9}, dry_run=True
    )
    dry_grpo = await submit(client, dataset_key, algorithm="grpo", init_from=source, dry_run=True)
    assert dry_grpo.status_code == 202, dry_grpo.text
    assert dry_grpo.json()["request"]["init_from"]["checkpoint"] == 3
    assert await pins(sessions, sft_id) == []

    # A retry starts from the same step and pins it for itself.
    run_id = (await submit(client, dataset_key, algorithm="grpo", init_from=source)).json()[
        "run_id"
    ]
    params = (await client.get(f"/api/tunix/runs/{run_id}/params")).json()
    assert params["source"] == "request" and params["data"]["algorithm"] == "grpo"
    assert params["data"]["model.preset"] == "tiny" and params["data"]["grpo.beta"] == 0.04
    assert (await client.post(f"/api/tunix/runs/{run_id}/cancel")).status_code == 200
    retry = await client.post(f"/api/tunix/runs/{run_id}/retry")
    assert retry.status_code == 202, retry.text
    assert retry.json()["request"]["init_from"] == {"run_id": sft_id, "checkpoint": 3}
    assert await pins(sessions, sft_id) == [
        (3, reason) for reason in sorted([f"init:{run_id}", f"init:{retry.json()['run_id']}"])
    ]


def rollout_line(prompt_index: int, generation: int, completion: str) -> str:
    return json.dumps(
        {
            "prompt_index": prompt_index,
            "generation": generation,
            "prompt": "2+2?",
            "expected": "4",
            "completion": completion,
            "answer": "4",
            "correct": True,
            "format_ok": True,
            "rewards": {"correct": 1.0, "format": 0.2},
            "reward": 1.2,
            "advantage": 0.0,
        }
    )


async def rollout_rows(sessions: Sessions, run_id: uuid.UUID) -> list[tuple[int, int, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(models.RunRollout.step, models.RunRollout.fence, models.RunRollout.completion)
            .where(models.RunRollout.run_id == run_id)
            .order_by(models.RunRollout.step, models.RunRollout.prompt_index)
        )
        return [(int(s), int(f), str(c)) for s, f, c in rows.all()]


async def test_a_stale_attempts_rollouts_are_refused(
    settings: Settings, sessions: Sessions
) -> None:
    run_id = await enqueue(sessions)
    fence = await claim(sessions, run_id)
    run_dir = settings.artifacts / str(run_id)

    def handler(owner_fence: int) -> EventHandler:
        return EventHandler(
            sessions,
            None,
            run_id,
            run_dir,
            fence=owner_fence,
            attempt_rel=artifacts.attempt_dir_of(owner_fence),
        )

    async def feed(events: EventHandler, step: int, completion: str) -> None:
        path = f"rollouts/step-{step:08d}.jsonl"
        target = events.attempt_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        # A NUL (no backend stores it) and a bad line: the rest of the step is still stored.
        target.write_text(rollout_line(0, 0, completion + "\x00") + "\n{bad\n")
        event = {"event": "rollouts", "step": step, "path": path, "count": 1}
        await events.handle_line(json.dumps(event).encode())

    stale = handler(fence)
    await feed(stale, 1, "first")
    assert await rollout_rows(sessions, run_id) == [(1, fence, "first\ufffd")]
    # A path outside the attempt's rollouts directory is not read.
    escape = {"event": "rollouts", "step": 3, "path": "../../../etc/passwd"}
    await stale.handle_line(json.dumps(escape).encode())
    assert not stale.lease_lost and len(await rollout_rows(sessions, run_id)) == 1

    async with sessions() as session:  # handed to another attempt (reaper + new claim)
        run = await session.get(models.Run, run_id)
        assert run is not None
        run.fence = fence + 1
        await session.commit()
    await feed(stale, 2, "stale")
    assert stale.lease_lost
    assert await rollout_rows(sessions, run_id) == [(1, fence, "first\ufffd")]
    # The owner samples step 1 again: its rows replace the older attempt's.
    owner = handler(fence + 1)
    await feed(owner, 1, "again")
    assert not owner.lease_lost
    assert await rollout_rows(sessions, run_id) == [(1, fence + 1, "again\ufffd")]
    # A file whose event never got through is still registered at the end of the attempt.
    (owner.attempt_dir / "rollouts/step-00000009.jsonl").write_text(rollout_line(0, 0, "x"))
    async with sessions() as session:
        await artifacts.register_run_outputs(session, run_id, run_dir, owner.attempt_rel)
        await session.commit()
        names = set(
            await session.scalars(
                select(models.RunArtifact.name).where(models.RunArtifact.run_id == run_id)
            )
        )
    assert {"rollouts/step-00000001.jsonl", "rollouts/step-00000009.jsonl"} <= names
