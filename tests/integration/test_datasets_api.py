"""Datasets on both backends: build (filters, strategies, holdout), preview, export, freezing."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.datasets import store
from tunix_rt.db import bulk
from tunix_rt.db.models import Dataset, DatasetMember, Trace


async def generate(client: httpx.AsyncClient, task: str, count: int, seed: int = 0) -> None:
    res = await client.post(
        "/api/traces/generate", json={"task": task, "count": count, "seed": seed}
    )
    assert res.status_code == 201, res.text


async def build(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    body.setdefault("dataset_name", "ds")
    body.setdefault("dataset_version", "v1")
    return await client.post("/api/datasets/build", json=body)


async def export(client: httpx.AsyncClient, key: str, **params: str) -> list[dict[str, Any]]:
    res = await client.get(f"/api/datasets/{key}/export.jsonl", params=params)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("application/x-ndjson")
    assert res.text.endswith("\n")
    return [json.loads(line) for line in res.text.splitlines()]


async def test_build_freezes_membership_and_exports_sft(client: httpx.AsyncClient) -> None:
    await generate(client, "high_card_duel", 30)
    await generate(client, "addition", 10)
    res = await build(client, filters={"task": "high_card_duel"}, limit=20, holdout_fraction=0.25)
    assert res.status_code == 201, res.text
    manifest = res.json()
    assert manifest["dataset_key"] == "ds-v1"
    assert manifest["trace_count"] == 20
    assert manifest["train_count"] + manifest["holdout_count"] == 20
    assert len(manifest["content_hash"]) == 64

    rows = await export(client, "ds-v1", format="tunix_sft", split="all")
    assert len(rows) == 20
    first = rows[0]
    assert first["prompts"].startswith("<start_of_turn>user\nPlayer A draws the ")
    assert "<end_of_turn>\n<start_of_turn>model\nReasoning:\n1. A has " in first["prompts"]
    assert first["prompts"].endswith(f"Answer: {first['final_answer']}<end_of_turn>")
    assert first["metadata"]["trace_id"] == first["id"]
    assert first["metadata"]["task"] == "high_card_duel"
    train = await export(client, "ds-v1", format="tunix_sft", split="train")
    holdout = await export(client, "ds-v1", format="tunix_sft", split="holdout")
    assert len(train) == manifest["train_count"]
    assert len(holdout) == manifest["holdout_count"]
    assert [r["id"] for r in rows] == sorted(
        [r["id"] for r in train + holdout], key=[r["id"] for r in rows].index
    )
    # Newly added traces do not change a frozen dataset.
    await generate(client, "high_card_duel", 5, seed=9)
    again = await export(client, "ds-v1", format="tunix_sft")
    assert again == rows
    assert (await client.get("/api/datasets/ds-v1")).json() == manifest


async def test_content_hash_covers_splits_and_payloads_in_order(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await generate(client, "addition", 12)
    manifest = (
        await build(client, selection_strategy="random", seed=3, holdout_fraction=0.3)
    ).json()
    digest = hashlib.sha256()
    for row in await export(client, manifest["dataset_key"], format="trace"):
        payload = {k: row[k] for k in ("trace_version", "prompt", "final_answer", "steps", "meta")}
        canon = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest.update(f"{row['split']} {hashlib.sha256(canon.encode()).hexdigest()}\n".encode())
    assert digest.hexdigest() == manifest["content_hash"]
    async with sessions() as session:
        lines = [
            line async for line in store.iter_export(session, "ds-v1", fmt="trace", split="all")
        ]
    assert len(lines) == 12
    assert all(line.endswith("\n") for line in lines)


async def test_identical_prompts_share_a_split(client: httpx.AsyncClient) -> None:
    items = []
    for n in range(40):
        for variant in (f"What is {n} + 1?", f"  what IS {n}   + 1? ", f"What is {n} + 1?"):
            items.append(
                {
                    "trace_version": "1",
                    "prompt": variant,
                    "final_answer": str(n + 1),
                    "steps": [{"i": 0, "type": "reasoning", "content": "add one"}],
                    "meta": {"source": "dup"},
                }
            )
    assert (await client.post("/api/traces/batch", json=items)).status_code == 201
    manifest = (await build(client, holdout_fraction=0.5, seed=11, dedupe_prompts=False)).json()
    assert 0 < manifest["holdout_count"] < 120
    sides: dict[str, set[str]] = {}
    for row in await export(client, "ds-v1", format="trace"):
        sides.setdefault(" ".join(row["prompt"].split()).casefold(), set()).add(row["split"])
    assert len(sides) == 40
    assert all(len(v) == 1 for v in sides.values())


async def test_strategies_are_deterministic(client: httpx.AsyncClient) -> None:
    await generate(client, "multiplication", 25)
    ids = []
    for version in ("a", "b"):
        key = (
            await build(
                client, dataset_version=version, selection_strategy="random", seed=5, limit=10
            )
        ).json()["dataset_key"]
        ids.append([r["id"] for r in await export(client, key)])
    assert ids[0] == ids[1]
    other = (
        await build(client, dataset_version="c", selection_strategy="random", seed=6, limit=10)
    ).json()["dataset_key"]
    assert [r["id"] for r in await export(client, other)] != ids[0]
    await generate(client, "addition", 3)  # newer than the multiplications
    latest = [
        [r["id"] for r in await export(client, key)]
        for key in [
            (await build(client, dataset_version=v, limit=3)).json()["dataset_key"]
            for v in ("d", "e")
        ]
    ]
    listing = (await client.get("/api/traces", params={"limit": 3})).json()["data"]
    assert latest[0] == latest[1]
    assert set(latest[0]) == {r["id"] for r in listing}


async def test_top_score_and_min_score_use_latest_score(client: httpx.AsyncClient) -> None:
    await generate(client, "addition", 3)
    traces = (await client.get("/api/traces")).json()["data"]
    wrong = traces[0]["id"]
    # Make one answer wrong by storing a trace copy with a bad final answer.
    payload = (await client.get(f"/api/traces/{wrong}")).json()["payload"]
    payload["final_answer"] = "-1"
    bad = (await client.post("/api/traces", json=payload)).json()["id"]
    for row in traces:
        await client.post(f"/api/traces/{row['id']}/score", json={"criteria": "answer_match"})
    await client.post(f"/api/traces/{bad}/score", json={"criteria": "answer_match"})

    preview = await client.post(
        "/api/datasets/preview", json={"filters": {"min_score": 50, "criteria": "answer_match"}}
    )
    assert preview.json() == {"trace_count": 3}
    res = await build(client, filters={"min_score": 50, "criteria": "answer_match"})
    assert res.json()["trace_count"] == 3
    top = await build(
        client,
        dataset_version="top",
        selection_strategy="top_score",
        filters={"criteria": "answer_match"},
        dedupe_prompts=False,  # the bad copy repeats a prompt
    )
    ordered = [r["id"] for r in await export(client, top.json()["dataset_key"])]
    assert ordered[-1] == bad
    # With duplicates dropped, the best-scored version of a repeated prompt is the one kept.
    best = await build(
        client,
        dataset_version="best",
        selection_strategy="top_score",
        filters={"criteria": "answer_match"},
    )
    assert best.json()["duplicates_dropped"] == 1
    assert bad not in [r["id"] for r in await export(client, best.json()["dataset_key"])]


async def test_build_conflicts_and_empty_selection(client: httpx.AsyncClient) -> None:
    empty = await build(client)
    assert empty.status_code == 422
    assert "no traces match" in empty.json()["detail"]
    await generate(client, "addition", 2)
    none = await build(client, filters={"source": "nowhere"})
    assert none.status_code == 422
    assert "source='nowhere'" in none.json()["detail"]
    assert (await build(client)).status_code == 201
    dup = await build(client)
    assert dup.status_code == 409
    assert "already exists" in dup.json()["detail"]
    assert (await client.get("/api/datasets/nope-v1")).status_code == 404
    assert (await client.get("/api/datasets/nope-v1/export.jsonl")).status_code == 404
    bad = await client.get("/api/datasets/ds-v1/export.jsonl", params={"format": "csv"})
    assert bad.status_code == 422
    listing = (await client.get("/api/datasets")).json()
    assert [d["dataset_key"] for d in listing["data"]] == ["ds-v1"]
    assert listing["pagination"]["next_offset"] is None


async def test_member_trace_cannot_be_deleted(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await generate(client, "addition", 2)
    assert (await build(client)).status_code == 201
    trace_id = (await client.get("/api/traces")).json()["data"][0]["id"]
    res = await client.delete(f"/api/traces/{trace_id}")
    assert res.status_code == 409
    assert "ds-v1" in res.json()["detail"]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Trace)) == 2
        assert await session.scalar(select(func.count()).select_from(DatasetMember)) == 2


async def test_bulk_insert_reports_constraint_violations(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Both bulk paths (COPY on PostgreSQL, executemany on SQLite) raise IntegrityError,
    inside the session's transaction: nothing of the failed batch remains."""
    async with sessions() as session:
        session.add(
            Dataset(
                key="k-v1", name="k", version="v1", filters={}, selection_strategy="latest",
                trace_count=1, train_count=1, holdout_count=0, content_hash="0" * 64,
            )
        )  # fmt: skip
        await session.flush()
        row = {"dataset_key": "k-v1", "position": 0, "trace_id": uuid.uuid4(), "split": "train"}
        with pytest.raises(IntegrityError):
            await bulk.insert_rows(session, DatasetMember.__table__, [row])
        await session.rollback()
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Dataset)) == 0


async def test_export_pages_keep_membership_order(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "EXPORT_PAGE_ROWS", 7)  # many pages, and a partial last one
    await generate(client, "addition", 45)
    manifest = (
        await build(client, selection_strategy="random", seed=2, holdout_fraction=0.3)
    ).json()
    rows = await export(client, "ds-v1", format="trace")
    assert len(rows) == 45
    assert len({r["id"] for r in rows}) == 45
    holdout = await export(client, "ds-v1", format="trace", split="holdout")
    assert [r["id"] for r in holdout] == [r["id"] for r in rows if r["split"] == "holdout"]
    assert len(holdout) == manifest["holdout_count"]
    monkeypatch.setattr(store, "EXPORT_PAGE_ROWS", 9)  # 45 = 5 full pages, then an empty one
    assert await export(client, "ds-v1", format="trace") == rows
