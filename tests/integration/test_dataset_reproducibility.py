"""Reproducible datasets on both backends: membership and order follow content, never trace
ids or insertion order; repeated prompts are dropped and counted; model outputs stay out of
default builds and the default trace list."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.db.models import Trace
from tunix_rt.traces.generators import generate_traces
from tunix_rt.worker.events import EventHandler

MakeClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def generated_payloads() -> list[dict[str, Any]]:
    traces = [
        *generate_traces("high_card_duel", 40, seed=1),
        *generate_traces("addition", 30, seed=2),
        *generate_traces("multiplication", 20, seed=3),
    ]
    return [t.model_dump() for t in traces]


async def post_batches(client: httpx.AsyncClient, batches: list[list[dict[str, Any]]]) -> None:
    for items in batches:
        res = await client.post("/api/traces/batch", json=items)
        assert res.status_code == 201, res.text


async def export_text(client: httpx.AsyncClient, key: str, fmt: str) -> str:
    res = await client.get(f"/api/datasets/{key}/export.jsonl", params={"format": fmt})
    assert res.status_code == 200, res.text
    return res.text


def without_ids(text: str) -> str:
    """The export with each trace id (a random identity, not content) masked."""
    return UUID_RE.sub("<id>", text)


async def build_in_fresh_tables(
    make_client: MakeClient, batches: list[list[dict[str, Any]]], **body: Any
) -> tuple[dict[str, Any], list[tuple[str, str, str]], str]:
    """(manifest, [(split, prompt, answer)] in member order, tunix_sft export)."""
    async with make_client() as client:  # tables are emptied when it closes
        await post_batches(client, batches)
        res = await client.post(
            "/api/datasets/build", json={"dataset_name": "rep", "dataset_version": "1", **body}
        )
        assert res.status_code == 201, res.text
        manifest = res.json()
        rows = [
            json.loads(line) for line in (await export_text(client, "rep-1", "trace")).splitlines()
        ]
        members = [(r["split"], r["prompt"], r["final_answer"]) for r in rows]
        return manifest, members, await export_text(client, "rep-1", "tunix_sft")


async def test_same_traces_in_another_order_build_the_same_dataset(make_client: MakeClient) -> None:
    payloads = generated_payloads()
    shuffled = payloads[:]
    random.Random(7).shuffle(shuffled)
    body = {"selection_strategy": "random", "seed": 3, "limit": 60, "holdout_fraction": 0.2}
    # Once in one batch, once shuffled across three batches (other ids, other created_at).
    first = await build_in_fresh_tables(make_client, [payloads], **body)
    second = await build_in_fresh_tables(
        make_client, [shuffled[:25], shuffled[25:70], shuffled[70:]], **body
    )
    manifest, members, sft = first
    assert manifest["trace_count"] == 60
    assert 0 < manifest["holdout_count"] < 60
    assert second[0]["content_hash"] == manifest["content_hash"]
    assert second[1] == members
    assert without_ids(second[2]) == without_ids(sft)
    assert sft.count("\n") == 60


async def test_latest_orders_traces_of_one_batch_by_content(make_client: MakeClient) -> None:
    payloads = generated_payloads()
    body = {"limit": 50, "holdout_fraction": 0.1, "seed": 9}
    first = await build_in_fresh_tables(make_client, [payloads], **body)
    second = await build_in_fresh_tables(make_client, [payloads[::-1]], **body)
    assert first[0]["content_hash"] == second[0]["content_hash"]
    assert first[1] == second[1]
    assert without_ids(first[2]) == without_ids(second[2])


def trace_item(prompt: str, answer: str, source: str = "import") -> dict[str, Any]:
    return {
        "trace_version": "1",
        "prompt": prompt,
        "final_answer": answer,
        "steps": [{"i": 0, "type": "reasoning", "content": f"the answer is {answer}"}],
        "meta": {"source": source, "task": "echo"},
    }


async def test_duplicate_prompts_are_dropped_and_counted(client: httpx.AsyncClient) -> None:
    items = []
    for n in range(30):
        items.append(trace_item(f"Echo {n}.", str(n)))
        if n % 3 == 0:  # 10 prompts repeat, one of them twice, spelled differently
            items.append(trace_item(f"  echo   {n}. ", str(n)))
        if n == 0:
            items.append(trace_item(f"ECHO {n}.", "zero"))
    await post_batches(client, [items])
    assert len(items) == 41
    for strategy in ("latest", "random"):
        res = await client.post(
            "/api/datasets/build",
            json={
                "dataset_name": f"dd-{strategy}",
                "dataset_version": "1",
                "selection_strategy": strategy,
            },
        )
        assert res.status_code == 201, res.text
        manifest = res.json()
        assert manifest["trace_count"] == 30
        assert manifest["duplicates_dropped"] == 11
        assert manifest["dedupe_prompts"] is True
        assert "_build" not in manifest["filters"]
        assert (await client.get(f"/api/datasets/dd-{strategy}-1")).json() == manifest
        text = await export_text(client, f"dd-{strategy}-1", "trace")
        prompts = [
            " ".join(json.loads(line)["prompt"].split()).casefold() for line in text.splitlines()
        ]
        assert len(set(prompts)) == 30
    kept = await client.post(
        "/api/datasets/build",
        json={"dataset_name": "keep", "dataset_version": "1", "dedupe_prompts": False},
    )
    assert kept.status_code == 201, kept.text
    assert kept.json()["trace_count"] == 41
    assert kept.json()["duplicates_dropped"] == 0
    assert kept.json()["dedupe_prompts"] is False
    limited = await client.post(
        "/api/datasets/build",
        json={"dataset_name": "lim", "dataset_version": "1", "limit": 25, "seed": 1,
              "selection_strategy": "random"},
    )  # fmt: skip
    assert limited.json()["trace_count"] == 25


async def test_model_outputs_are_left_out_unless_asked(client: httpx.AsyncClient) -> None:
    run_source = f"run:{uuid.uuid4()}"
    training = [trace_item(f"Echo {n}.", str(n)) for n in range(5)]
    outputs = [trace_item(f"Echo {n}!", str(n), source=run_source) for n in range(3)]
    await post_batches(client, [training, outputs])

    async def listed(**params: Any) -> list[str | None]:
        res = await client.get("/api/traces", params={"limit": 100, **params})
        assert res.status_code == 200, res.text
        return [row["source"] for row in res.json()["data"]]

    assert await listed() == ["import"] * 5
    assert sorted(await listed(include_model_outputs="true"), key=str) == (
        ["import"] * 5 + [run_source] * 3
    )
    assert await listed(source=run_source) == [run_source] * 3

    async def built(version: str, filters: dict[str, Any]) -> int:
        res = await client.post(
            "/api/datasets/build",
            json={"dataset_name": "mo", "dataset_version": version, "filters": filters},
        )
        assert res.status_code == 201, res.text
        return int(res.json()["trace_count"])

    assert await built("default", {}) == 5
    assert await built("task", {"task": "echo"}) == 5
    assert await built("all", {"include_model_outputs": True}) == 8
    assert await built("named", {"source": run_source}) == 3
    preview = await client.post("/api/datasets/preview", json={})
    assert preview.json() == {"trace_count": 5}


async def test_eval_outputs_are_stored_with_task_and_run(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    reference = generate_traces("addition", 1, seed=0)[0].model_dump()
    (reference_id,) = (await client.post("/api/traces/batch", json=[reference])).json()["ids"]
    run_id = uuid.uuid4()
    examples = [
        {  # eval.json as the training child writes it now: with the example's task
            "trace_id": str(uuid.uuid4()),
            "task": "high_card_duel",
            "prompt": "Player A draws ...",
            "expected_answer": "A",
            "generated": "Reasoning:\n1. A has 9\nAnswer: A",
            "extracted_answer": "A",
            "correct": True,
            "format_ok": True,
        },
        {  # an older eval.json without task: taken from the reference trace
            "trace_id": reference_id,
            "prompt": reference["prompt"],
            "expected_answer": reference["final_answer"],
            "generated": "Answer: 7",
            "extracted_answer": "7",
            "correct": False,
            "format_ok": True,
        },
    ]
    (tmp_path / "eval.json").write_text(json.dumps({"summary": {}, "examples": examples}))
    handler = EventHandler(sessions, None, run_id, tmp_path, fence=1)
    doc = await handler._read_eval_doc()
    assert doc is not None
    async with sessions() as session:
        await handler._store_eval_traces(session, doc)
        await session.commit()
    async with sessions() as session:
        rows = (
            await session.execute(select(Trace).where(Trace.source == f"run:{run_id}"))
        ).scalars()
        stored = sorted(rows, key=lambda t: str(t.task))
    assert [(t.task, t.meta["run_id"]) for t in stored] == [
        ("addition", str(run_id)),
        ("high_card_duel", str(run_id)),
    ]
    listing = (await client.get("/api/traces")).json()["data"]
    assert [row["id"] for row in listing] == [reference_id]
    res = await client.post(
        "/api/datasets/build", json={"dataset_name": "ev", "dataset_version": "1"}
    )
    assert res.json()["trace_count"] == 1
