"""Values that used to end in a 500: each is a 4xx with a clear message, on both databases."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import run_rows
from tests.integration.worker_helpers import DATASET_KEY, ensure_dataset
from tunix_rt.settings import Settings

Sessions = async_sessionmaker[AsyncSession]
MakeClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
BODY = b"0123456789" * 10
TOKEN = "t0ken-for-tests"

# Year 1 at a positive offset is year 0 in UTC, which no database can compare with.
EARLY = "0001-01-01T00:00:00+05:00"


@pytest.mark.parametrize("field", ["created_after", "created_before"])
async def test_time_filter_before_year_1_in_utc_is_422(
    client: httpx.AsyncClient, sessions: Sessions, field: str
) -> None:
    res = await client.get("/api/traces", params={field: EARLY})
    assert res.status_code == 422, res.text
    assert field in res.json()["detail"] and "UTC" in res.json()["detail"]
    for path in ("/api/datasets/preview", "/api/datasets/build"):
        body = {"dataset_name": "d", "dataset_version": "v1", "filters": {field: EARLY}}
        res = await client.post(path, json=body)
        assert res.status_code == 422, (path, res.text)
        assert f"filters.{field}" in res.json()["detail"]
    late = await client.get("/api/traces", params={field: "9998-12-31T12:00:00-05:00"})
    assert late.status_code == 200, late.text
    naive = await client.get("/api/traces", params={field: "0001-01-01T00:00:00"})
    assert naive.status_code == 200, naive.text


async def test_range_header_of_thousands_of_digits_is_not_a_500(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed")
    run_rows.write_file(settings.artifacts / str(run_id) / "out.bin", BODY)
    artifact_id = await run_rows.add_artifact(sessions, run_id, "out.bin", content=BODY)
    url = f"/api/tunix/runs/{run_id}/artifacts/{artifact_id}/download"
    digits = "9" * 5000
    to_end = await client.get(url, headers={"Range": f"bytes=10-{digits}"})
    assert to_end.status_code == 206 and to_end.content == BODY[10:]
    suffix = await client.get(url, headers={"Range": f"bytes=-{digits}"})
    assert suffix.status_code == 206 and suffix.content == BODY
    past = await client.get(url, headers={"Range": f"bytes={digits}-"})
    assert past.status_code == 416 and "past the end" in past.json()["detail"]
    padded = await client.get(url, headers={"Range": f"bytes={'0' * 5000}5-6"})
    assert padded.status_code == 206 and padded.content == BODY[5:7]


@pytest.mark.parametrize(
    ("model_path", "message"),
    [("~nosuchuser-tunix/models/m", "~nosuchuser-tunix is not a user"), ("/m\x00dl", "NUL")],
)
async def test_unusable_model_path_is_422(
    make_client: MakeClient, sessions: Sessions, tmp_path: Path, model_path: str, message: str
) -> None:
    await ensure_dataset(sessions)
    async with make_client(model_roots=[tmp_path]) as client:
        body = {"dataset_key": DATASET_KEY, "model_id": "gemma3-270m", "model_path": model_path}
        res = await client.post("/api/tunix/run", json=body)
        assert res.status_code == 422, res.text
        assert "model_path" in res.json()["detail"] and message in res.json()["detail"]


async def test_nul_in_dataset_key_is_422(client: httpx.AsyncClient, sessions: Sessions) -> None:
    await ensure_dataset(sessions)
    res = await client.post("/api/tunix/run", json={"dataset_key": DATASET_KEY + "\x00"})
    assert res.status_code == 422, res.text
    assert "dataset_key" in res.json()["detail"] and "NUL" in res.json()["detail"]


async def test_non_ascii_token_is_401_without_a_traceback(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with make_client(api_token=TOKEN) as client:
        presented = [
            {"headers": {"Authorization": "Bearer t\u00f6ken".encode()}},
            {"headers": {"Authorization": b"Bearer \xff\xfe"}},
            {"params": {"access_token": "t\u00f6ken\u2603"}},
            {"headers": {"Cookie": "tunix_rt_token=t\u00f6ken".encode()}},
        ]
        for kwargs in presented:
            res = await client.get("/api/tunix/runs", **kwargs)  # type: ignore[arg-type]
            assert res.status_code == 401, kwargs
            assert "token" in res.json()["detail"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
