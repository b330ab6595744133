"""Bad input to the traces and datasets API: a clear 4xx, never a 500, nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.test_traces_api import make_payload
from tunix_rt.db.models import Trace

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def count_traces(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Trace)) or 0)


def with_changes(**changes: Any) -> dict[str, Any]:
    return make_payload(1, **changes)


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("unknown top-level key", {**make_payload(1), "extra": 1}, "extra"),
    ("unknown step key", with_changes(steps=[{"i": 0, "type": "t", "content": "c", "x": 1}]), "x"),
    ("missing prompt", {k: v for k, v in make_payload(1).items() if k != "prompt"}, "prompt"),
    ("empty prompt", with_changes(prompt=""), "prompt"),
    ("wrong type", with_changes(steps="three"), "steps"),
    ("negative step index", with_changes(steps=[{"i": -1, "type": "t", "content": "c"}]), "i"),
    (
        "duplicate step index",
        with_changes(steps=[{"i": 0, "type": "t", "content": "a"}] * 2),
        "steps",
    ),
    ("no steps", with_changes(steps=[]), "steps"),
    (
        "step type too long",
        with_changes(steps=[{"i": 0, "type": "t" * 65, "content": "c"}]),
        "type",
    ),
    ("NUL character", with_changes(prompt="a\x00b"), "prompt"),
    ("non-string meta.source", with_changes(meta={"source": 5}), "meta"),
    ("long meta.task", with_changes(meta={"task": "t" * 300}), "meta"),
    ("array body", [make_payload(1)], "body"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_invalid_trace_is_422_naming_the_field(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    case: str,
    body: Any,
    field: str,
) -> None:
    res = await client.post("/api/traces", json=body)
    assert res.status_code == 422, (case, res.text)
    assert field in res.json()["detail"], res.json()
    assert await count_traces(sessions) == 0


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'{"prompt": NaN}', b"", b"[" * 100_000, b"\xff\xfe", b'"\\ud800"'],
    ids=["malformed", "nan", "empty", "deep", "bad-utf8", "lone-surrogate"],
)
async def test_unparseable_body_is_4xx(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], raw: bytes
) -> None:
    for path in ("/api/traces", "/api/traces/batch"):
        res = await client.post(path, content=raw, headers={"content-type": "application/json"})
        assert 400 <= res.status_code < 500, (path, raw[:10], res.status_code, res.text)
        assert "detail" in res.json()
    assert await count_traces(sessions) == 0


async def test_nan_and_surrogates_in_meta_are_rejected(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    text = json.dumps(make_payload(1)).replace('"task": "inc"', '"task": "inc", "x": NaN')
    res = await client.post(
        "/api/traces", content=text, headers={"content-type": "application/json"}
    )
    assert res.status_code == 422
    assert "finite" in res.json()["detail"]
    text = json.dumps(make_payload(1)).replace('"inc"', '"\\udc00"')
    res = await client.post(
        "/api/traces", content=text, headers={"content-type": "application/json"}
    )
    assert res.status_code == 422
    assert await count_traces(sessions) == 0


async def test_oversized_bodies_are_413(
    make_client: ClientFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with make_client(trace_max_bytes=4096) as client:
        big = make_payload(1, prompt="x" * 5000)
        res = await client.post("/api/traces", json=big)
        assert res.status_code == 413
        assert "4096" in res.json()["detail"]

        async def chunks() -> Any:
            for _ in range(10):
                yield b" " * 1000  # no Content-Length: the streamed size is what counts

        res = await client.post("/api/traces", content=chunks())
        assert res.status_code == 413
        # In a batch, one item over the per-trace limit rejects the batch by index.
        res = await client.post("/api/traces/batch", json=[make_payload(1), big])
        assert res.status_code == 422
        assert res.json()["errors"][0]["index"] == 1
        assert "bytes" in res.json()["errors"][0]["message"]
    assert await count_traces(sessions) == 0


async def test_batch_over_10000_items_is_422(client: httpx.AsyncClient) -> None:
    small = {"trace_version": "1", "prompt": "p", "final_answer": "a", "steps": []}
    res = await client.post("/api/traces/batch", json=[small] * 10_001)
    assert res.status_code == 422
    assert "10000" in res.json()["detail"]
    assert (await client.post("/api/traces/batch", json=[])).status_code == 422


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/traces/not-a-uuid", {}),
        ("/api/traces", {"limit": 0}),
        ("/api/traces", {"limit": 101}),
        ("/api/traces", {"offset": -1}),
        ("/api/traces", {"limit": "ten"}),
        ("/api/traces", {"created_after": "yesterday"}),
        ("/api/traces", {"created_after": "9999-12-31T23:59:59-05:00"}),
        ("/api/traces/compare", {"base": "x", "other": "y"}),
        ("/api/datasets", {"offset": -5}),
        ("/api/traces", {"source": "a\x00b"}),
        ("/api/traces", {"task": "\x00"}),
        ("/api/datasets/a%00b", {}),
        ("/api/datasets/a%00b/export.jsonl", {}),
    ],
)
async def test_bad_ids_and_paging_are_422(
    client: httpx.AsyncClient, path: str, params: dict[str, Any]
) -> None:
    res = await client.get(path, params=params)
    assert res.status_code == 422, res.text
    assert res.json()["detail"]


async def test_generate_limits(client: httpx.AsyncClient) -> None:
    for body in (
        {"task": "poetry", "count": 1, "seed": 0},
        {"task": "addition", "count": 100_001, "seed": 0},
        {"task": "addition", "count": 0, "seed": 0},
        {"task": "addition", "count": 1, "seed": -1},
    ):
        res = await client.post("/api/traces/generate", json=body)
        assert res.status_code == 422, body


async def test_bad_dataset_requests(client: httpx.AsyncClient) -> None:
    base = {"dataset_name": "ds", "dataset_version": "v1"}
    for body in (
        {**base, "holdout_fraction": 0.6},
        {**base, "selection_strategy": "best"},
        {**base, "dataset_name": "bad/name"},
        {**base, "filters": {"colour": "red"}},
        {**base, "limit": 0},
        {"dataset_version": "v1"},
    ):
        res = await client.post("/api/datasets/build", json=body)
        assert res.status_code == 422, body
        assert res.json()["detail"]
