"""Run records never show absolute server paths: paths under the configured roots are relative."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import run_rows
from tunix_rt.settings import Settings

Sessions = async_sessionmaker[AsyncSession]
MakeClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_run_error_shows_paths_relative_to_configured_roots(
    make_client: MakeClient, sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    models_root = (tmp_path / "models").resolve()
    tokenizer = settings.artifacts / "r1" / "tokenizer.model"
    error = (
        f"cannot start: tokenizer file not found: {tokenizer}; "
        f"model.path '{models_root / 'gemma'}' has no *.safetensors files; db {settings.home}/x.db"
    )
    run_id = await run_rows.insert_run(sessions, status="failed", error=error)
    async with make_client(model_roots=[models_root]) as client:
        record = (await client.get(f"/api/tunix/runs/{run_id}")).json()
        listed = (await client.get("/api/tunix/runs")).json()["data"][0]
    expected = (
        "cannot start: tokenizer file not found: <artifact_root>/r1/tokenizer.model; "
        "model.path '<model_root>/gemma' has no *.safetensors files; db <home>/x.db"
    )
    assert record["error"] == expected
    assert listed["error"] == expected
    assert str(tmp_path) not in str(record) + str(listed)
