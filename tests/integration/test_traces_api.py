"""Traces API on both backends: create, batch, generate, list, read, score, compare, delete."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.db.models import Trace, TraceScore


def make_payload(n: int = 0, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "trace_version": "1",
        "prompt": f"What is {n} + 1?",
        "final_answer": str(n + 1),
        "steps": [
            {"i": 0, "type": "reasoning", "content": f"take {n}"},
            {"i": 1, "type": "reasoning", "content": f"{n} + 1 = {n + 1}"},
        ],
        "meta": {"source": "test", "task": "inc", "expected_answer": str(n + 1)},
    }
    payload.update(overrides)
    return payload


async def count_traces(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Trace)) or 0)


async def test_create_trace_returns_id_and_round_trips(client: httpx.AsyncClient) -> None:
    payload = make_payload(3, meta={"source": "test", "nested": {"a": [1, 2.5, None]}})
    res = await client.post("/api/traces", json=payload)
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["trace_version"] == "1"
    uuid.UUID(body["id"])
    got = await client.get(f"/api/traces/{body['id']}")
    assert got.status_code == 200
    assert got.json()["payload"] == payload
    assert got.json()["scores"] == []


async def test_batch_is_all_or_nothing_with_item_errors(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    items = [make_payload(i) for i in range(5)]
    items[3]["steps"] = [{"i": 0, "type": "x", "content": ""}]
    res = await client.post("/api/traces/batch", json=items)
    assert res.status_code == 422
    body = res.json()
    assert body["errors"][0]["index"] == 3
    assert "steps.0.content" in body["errors"][0]["field"]
    assert "nothing was stored" in body["detail"]
    assert await count_traces(sessions) == 0

    res = await client.post("/api/traces/batch", json=[make_payload(i) for i in range(5)])
    assert res.status_code == 201, res.text
    assert res.json()["created"] == 5
    assert len(set(res.json()["ids"])) == 5
    assert await count_traces(sessions) == 5


async def test_list_pages_newest_first_with_filters(client: httpx.AsyncClient) -> None:
    first = await client.post("/api/traces/batch", json=[make_payload(i) for i in range(3)])
    assert first.status_code == 201
    res = await client.post("/api/traces", json=make_payload(9, meta={"source": "other"}))
    newest = res.json()["id"]

    page = (await client.get("/api/traces", params={"limit": 2})).json()
    assert page["pagination"] == {"limit": 2, "offset": 0, "next_offset": 2}
    assert page["data"][0]["id"] == newest
    assert page["data"][0]["step_count"] == 2
    assert "steps" not in page["data"][0]
    last = (await client.get("/api/traces", params={"limit": 2, "offset": 2})).json()
    assert last["pagination"]["next_offset"] is None
    seen = {r["id"] for r in page["data"] + last["data"]}
    assert len(seen) == 4

    only_test = (await client.get("/api/traces", params={"source": "test"})).json()["data"]
    assert {r["id"] for r in only_test} == set(first.json()["ids"])
    by_task = (await client.get("/api/traces", params={"task": "inc"})).json()["data"]
    assert len(by_task) == 3
    future = await client.get("/api/traces", params={"created_after": "2999-01-01T00:00:00Z"})
    assert future.json()["data"] == []
    past = await client.get("/api/traces", params={"created_before": "2000-01-01T00:00:00"})
    assert past.json()["data"] == []


async def test_generate_stores_traces_with_expected_answers(client: httpx.AsyncClient) -> None:
    res = await client.post(
        "/api/traces/generate", json={"task": "addition", "count": 7, "seed": 4}
    )
    assert res.status_code == 201, res.text
    assert res.json() == {"created": 7, "task": "addition", "seed": 4}
    rows = (await client.get("/api/traces", params={"task": "addition"})).json()["data"]
    assert len(rows) == 7
    assert all(r["source"] == "generator:addition" for r in rows)
    trace = (await client.get(f"/api/traces/{rows[0]['id']}")).json()
    prompt = trace["payload"]["prompt"]
    a, b = (int(x) for x in prompt.removeprefix("What is ").removesuffix("?").split(" + "))
    assert trace["payload"]["final_answer"] == str(a + b)


async def test_score_baseline_and_answer_match(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    trace_id = (await client.post("/api/traces", json=make_payload(1))).json()["id"]
    res = await client.post(f"/api/traces/{trace_id}/score", json={"criteria": "baseline"})
    assert res.status_code == 201, res.text
    score = res.json()
    # 2 steps -> 10 points; avg step chars (6 + 9) / 2 = 7.5 -> 0.75 points.
    assert score["score"] == 10 + 0.75
    assert score["details"]["step_count"] == 2
    match = await client.post(f"/api/traces/{trace_id}/score", json={"criteria": "answer_match"})
    assert match.json()["score"] == 100.0
    listed = (await client.get("/api/traces")).json()["data"][0]
    assert listed["score"] == 100.0  # the latest score of any criteria
    trace = (await client.get(f"/api/traces/{trace_id}")).json()
    assert [s["criteria"] for s in trace["scores"]] == ["answer_match", "baseline"]

    no_answer = make_payload(2, meta={"source": "test"})
    other_id = (await client.post("/api/traces", json=no_answer)).json()["id"]
    res = await client.post(f"/api/traces/{other_id}/score", json={"criteria": "answer_match"})
    assert res.status_code == 422
    assert "expected_answer" in res.json()["detail"]
    res = await client.post(f"/api/traces/{other_id}/score", json={"criteria": "vibes"})
    assert res.status_code == 422
    assert "criteria" in res.json()["detail"]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(TraceScore)) == 2


async def test_compare_reports_first_divergent_step(client: httpx.AsyncClient) -> None:
    base = make_payload(1)
    other = make_payload(1, final_answer="3")
    other["steps"] = [base["steps"][0], {"i": 1, "type": "reasoning", "content": "1 + 1 = 3"}]
    other["steps"].append({"i": 2, "type": "reasoning", "content": "extra"})
    base_id = (await client.post("/api/traces", json=base)).json()["id"]
    other_id = (await client.post("/api/traces", json=other)).json()["id"]
    res = await client.get("/api/traces/compare", params={"base": base_id, "other": other_id})
    assert res.status_code == 200, res.text
    diff = res.json()["diff"]
    assert diff["first_divergent_step"] == 1
    assert diff["steps_compared"] == 3
    assert diff["final_answer_differs"] is True
    assert [s["same"] for s in diff["steps"]] == [True, False, False]
    assert diff["steps"][2]["base"] is None
    assert res.json()["base"]["payload"]["final_answer"] == "2"

    same = await client.get("/api/traces/compare", params={"base": base_id, "other": base_id})
    assert same.json()["diff"]["first_divergent_step"] is None
    missing = await client.get(
        "/api/traces/compare", params={"base": base_id, "other": str(uuid.uuid4())}
    )
    assert missing.status_code == 404


async def test_delete_trace_and_its_scores(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    trace_id = (await client.post("/api/traces", json=make_payload(1))).json()["id"]
    await client.post(f"/api/traces/{trace_id}/score", json={"criteria": "baseline"})
    assert (await client.delete(f"/api/traces/{trace_id}")).status_code == 204
    assert (await client.get(f"/api/traces/{trace_id}")).status_code == 404
    assert (await client.delete(f"/api/traces/{trace_id}")).status_code == 404
    assert await count_traces(sessions) == 0
