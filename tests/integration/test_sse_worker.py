"""The live log stream end to end: real server, real embedded worker, real child process."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.worker_helpers import DATASET_KEY, ensure_dataset
from tests.sse_client import live_server, read_until_end, read_with_reconnects
from tunix_rt.settings import Settings

Sessions = async_sessionmaker[AsyncSession]
FIXTURE = str(Path(__file__).resolve().parents[1] / "fixtures" / "sse_lines.py")
LINES = 20_000


async def test_worker_run_of_20000_lines_reassembles_across_random_reconnects(
    settings: Settings, sessions: Sessions
) -> None:
    await ensure_dataset(sessions)
    command = [sys.executable, FIXTURE, str(LINES), "10000"]
    server_settings = settings.model_copy(update={"worker_command": command})
    async with (
        live_server(server_settings, embedded_workers=1) as base,
        httpx.AsyncClient(timeout=httpx.Timeout(30)) as http,
    ):
        created = await http.post(
            f"{base}/api/tunix/run", json={"dataset_key": DATASET_KEY, "max_steps": 1}
        )
        assert created.status_code == 202, created.text
        run_id = uuid.UUID(created.json()["run_id"])
        url = f"{base}/api/tunix/runs/{run_id}/logs"
        progress = {"last_seq": 0}
        try:
            result = await asyncio.wait_for(
                read_with_reconnects(
                    http, url, seed=11, max_lines_per_connection=3000, progress=progress
                ),
                90,
            )
        except TimeoutError:
            pytest.fail(f"stream stalled: {progress}")
        assert result.end_status == "completed"
        assert result.connections > 5
        log_file = settings.artifacts / str(run_id) / "attempts" / "1" / "logs" / "output.log"
        assert result.texts == log_file.read_text().splitlines()
        assert [int(t.split()[0]) for t in result.texts] == list(range(1, LINES + 1))
        # A client arriving after the end replays the same log and ends.
        replay = await read_until_end(http, url)
        replayed = [e.data for e in replay if e.event == "log"]
        assert [x["seq"] for x in replayed] == list(range(1, LINES + 1))
        assert [x["text"] for x in replayed] == result.texts
        assert replay[-1].event == "end"
