"""Evaluation records: the end-of-run evaluation of a run becomes one record with per-example
rows (through the real worker and fixture child), readable and pageable over the API."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests import run_rows
from tests.integration.test_worker import running_worker
from tests.integration.worker_helpers import DATASET_KEY, Sessions, enqueue, wait_terminal
from tunix_rt.db import models
from tunix_rt.evaluations import store
from tunix_rt.evaluations.stats import wilson_interval
from tunix_rt.settings import Settings
from tunix_rt.worker.events import EventHandler

BASE = "/api/evaluations"


def example(i: int, *, correct: bool, expected: str = "A") -> dict[str, Any]:
    return {
        "id": f"e{i}",
        "trace_id": None,
        "prompt": f"question {i}?",
        "expected_answer": expected,
        "generated": f"Answer: {expected if correct else 'Z'}",
        "extracted_answer": expected if correct else "Z",
        "correct": correct,
        "format_ok": True,
        "task": "letters",
        "tokens": 7 + i,
        "latency_ms": 1.5 * i,
    }


async def count_rows(sessions: Sessions, run_id: uuid.UUID) -> tuple[int, int]:
    async with sessions() as session:
        ids = select(models.Evaluation.id).where(models.Evaluation.run_id == run_id)
        evaluations = (
            await session.execute(
                select(func.count())
                .select_from(models.Evaluation)
                .where(models.Evaluation.run_id == run_id)
            )
        ).scalar_one()
        examples = (
            await session.execute(
                select(func.count())
                .select_from(models.EvaluationExample)
                .where(models.EvaluationExample.evaluation_id.in_(ids))
            )
        ).scalar_one()
    return int(evaluations), int(examples)


async def record(
    sessions: Sessions, run_id: uuid.UUID, fence: int, examples: list[dict[str, Any]]
) -> uuid.UUID:
    async with sessions() as session:
        run = await session.get(models.Run, run_id)
        assert run is not None
        evaluation = await store.record_run_evaluation(
            session, run, fence, 10 * fence, None, {"examples": examples}, "answer-v1"
        )
        await session.commit()
        return evaluation.id


async def test_finished_run_has_one_evaluation_record_with_examples(
    settings: Settings, sessions: Sessions, client: httpx.AsyncClient
) -> None:
    run_id = await enqueue(sessions)
    async with running_worker(settings, sessions, "ok"):
        run = await wait_terminal(sessions, run_id)
    assert run.status == "completed"
    listed = (await client.get(BASE, params={"run_id": str(run_id)})).json()
    assert listed["total"] == 1 and len(listed["data"]) == 1
    evaluation_id = listed["data"][0]["evaluation_id"]
    resp = await client.get(f"{BASE}/{evaluation_id}")
    assert resp.status_code == 200
    body = resp.json()
    low, high = wilson_interval(1, 2)
    assert {k: body[k] for k in ("status", "run_id", "step", "checkpoint", "dataset_key")} == {
        "status": "completed",
        "run_id": str(run_id),
        "step": 3,
        "checkpoint": "checkpoints/3",
        "dataset_key": DATASET_KEY,
    }
    assert body["split"] == "holdout" and body["scorer_version"] == "answer-v1"
    summary = body["summary"]
    assert summary["n"] == 2 and summary["exact_match"] == 0.5 and summary["format_ok"] == 0.5
    assert summary["ci_low"] == pytest.approx(low) and summary["ci_high"] == pytest.approx(high)
    by_answer = summary["by_expected_answer"]
    assert set(by_answer) == {"4", "6"}
    assert by_answer["4"]["exact_match"] == 1.0 and by_answer["6"]["exact_match"] == 0.0
    assert by_answer["6"]["ci_high"] == pytest.approx(wilson_interval(0, 1)[1])

    examples = (await client.get(f"{BASE}/{evaluation_id}/examples")).json()
    assert examples["total"] == 2
    assert [e["position"] for e in examples["data"]] == [0, 1]
    first = examples["data"][0]
    assert first["prompt"] == "2+2?" and first["expected"] == "4" and first["extracted"] == "4"
    assert first["correct"] is True and first["format_ok"] is True
    assert first["example_key"] == hashlib.sha256(b"2+2?").hexdigest()[:32]
    wrong = (await client.get(f"{BASE}/{evaluation_id}/examples?correct=false")).json()
    assert wrong["total"] == 1
    assert [(e["prompt"], e["extracted"], e["correct"]) for e in wrong["data"]] == [
        ("3+3?", None, False)
    ]


async def test_reapplied_eval_event_keeps_one_record_per_attempt(
    settings: Settings, sessions: Sessions, tmp_path: Path
) -> None:
    run_id = await run_rows.insert_run(sessions, fence=1, last_step=12)
    run_dir = tmp_path / "run"
    doc = {"summary": {"exact_match": 0.5, "n": 2}, "examples": [example(0, correct=True)]}
    doc["examples"].append(example(1, correct=False))
    run_rows.write_file(run_dir / "attempts" / "1" / "eval.json", json.dumps(doc).encode())
    handler = EventHandler(sessions, None, run_id, run_dir, fence=1, attempt_rel="attempts/1")
    line = json.dumps({"event": "eval", "summary": doc["summary"]}).encode()
    await handler.handle_line(line)
    await handler.handle_line(line)
    assert not handler.lease_lost
    assert await count_rows(sessions, run_id) == (1, 2)
    async with sessions() as session:
        rows, total = await store.list_evaluations(session, run_id=run_id)
    assert total == 1 and rows[0].step == 12 and rows[0].fence == 1


async def test_fenced_off_attempt_records_no_evaluation(
    settings: Settings, sessions: Sessions, tmp_path: Path
) -> None:
    run_id = await run_rows.insert_run(sessions, fence=2)
    run_dir = tmp_path / "run"
    doc = {"summary": {"n": 1}, "examples": [example(0, correct=True)]}
    run_rows.write_file(run_dir / "attempts" / "1" / "eval.json", json.dumps(doc).encode())
    handler = EventHandler(sessions, None, run_id, run_dir, fence=1, attempt_rel="attempts/1")
    await handler.handle_line(json.dumps({"event": "eval", "summary": doc["summary"]}).encode())
    assert handler.lease_lost
    assert await count_rows(sessions, run_id) == (0, 0)


async def test_examples_and_evaluations_page_and_filter(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed", dataset_key="pages-v1")
    other = await run_rows.insert_run(sessions, status="completed", dataset_key="other-v1")
    # positions 0..6: correct at even positions
    many = [example(i, correct=i % 2 == 0, expected="AB"[i % 2]) for i in range(7)]
    evaluation_id = await record(sessions, run_id, 1, many)
    await record(sessions, run_id, 2, many[:1])
    await record(sessions, other, 1, many[:2])

    url = f"{BASE}/{evaluation_id}/examples"
    page = (await client.get(url, params={"limit": 3, "offset": 2})).json()
    assert [e["position"] for e in page["data"]] == [2, 3, 4]
    assert page["total"] == 7 and page["next_offset"] == 5
    assert page["data"][1]["tokens"] == 10 and page["data"][1]["latency_ms"] == 4.5
    last = (await client.get(url, params={"limit": 3, "offset": 6})).json()
    assert [e["position"] for e in last["data"]] == [6] and last["next_offset"] is None
    wrong = (await client.get(url, params={"correct": "false", "limit": 2})).json()
    assert [e["position"] for e in wrong["data"]] == [1, 3] and wrong["total"] == 3
    right = (await client.get(url, params={"correct": "true"})).json()
    assert [e["position"] for e in right["data"]] == [0, 2, 4, 6]

    body = (await client.get(f"{BASE}/{evaluation_id}")).json()
    assert body["summary"]["n"] == 7
    assert body["summary"]["exact_match"] == pytest.approx(4 / 7)
    assert body["summary"]["by_expected_answer"]["B"]["n"] == 3

    by_run = (await client.get(BASE, params={"run_id": str(run_id)})).json()
    assert by_run["total"] == 2 and {e["step"] for e in by_run["data"]} == {10, 20}
    by_key = (await client.get(BASE, params={"dataset_key": "other-v1"})).json()
    assert [e["run_id"] for e in by_key["data"]] == [str(other)]
    first = (await client.get(BASE, params={"limit": 2})).json()
    second = (await client.get(BASE, params={"limit": 2, "offset": 2})).json()
    assert first["total"] == 3 and first["next_offset"] == 2 and second["next_offset"] is None
    seen = [e["evaluation_id"] for e in first["data"] + second["data"]]
    assert len(set(seen)) == 3


@pytest.mark.parametrize(
    "path",
    [
        "/{id}",
        "/{id}/examples",
    ],
)
async def test_unknown_evaluation_is_404_with_message(client: httpx.AsyncClient, path: str) -> None:
    missing = uuid.uuid4()
    resp = await client.get(BASE + path.format(id=missing))
    assert resp.status_code == 404
    assert str(missing) in resp.text and "not found" in resp.text


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/not-a-uuid",
        f"{BASE}/not-a-uuid/examples",
        f"{BASE}?run_id=nope",
        f"{BASE}?limit=0",
        f"{BASE}?offset=-1",
        f"{BASE}?dataset_key=",
        f"{BASE}?dataset_key=a%00b",
        f"{BASE}/{uuid.UUID(int=1)}/examples?correct=maybe",
        f"{BASE}/{uuid.UUID(int=1)}/examples?limit=100000",
    ],
)
async def test_bad_parameters_are_422(client: httpx.AsyncClient, url: str) -> None:
    resp = await client.get(url)
    assert resp.status_code == 422, resp.text


async def test_deleting_a_run_deletes_its_evaluations(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed")
    kept = await run_rows.insert_run(sessions, status="completed")
    evaluation_id = await record(sessions, run_id, 1, [example(0, correct=True)])
    await record(sessions, kept, 1, [example(0, correct=False)])
    resp = await client.delete(f"/api/tunix/runs/{run_id}")
    assert resp.status_code == 204, resp.text
    assert await count_rows(sessions, run_id) == (0, 0)
    assert await count_rows(sessions, kept) == (1, 1)
    assert (await client.get(f"{BASE}/{evaluation_id}")).status_code == 404
