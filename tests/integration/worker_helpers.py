"""Shared helpers for worker tests: a dataset row, a worker context on a fixture child."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.db import models
from tunix_rt.runs import materialize, queue, states
from tunix_rt.runs.schema import RunRequest
from tunix_rt.settings import Settings
from tunix_rt.worker.context import WorkerContext

FIXTURE = str(Path(__file__).resolve().parents[1] / "fixtures" / "child.py")
DATASET_KEY = "fixture-v1"

Sessions = async_sessionmaker[AsyncSession]


def attempt_dir(settings: Settings, run_id: uuid.UUID, fence: int = 1) -> Path:
    """Where attempt `fence` of a run writes (the child's run_dir)."""
    return materialize.attempt_dir_of(settings, run_id, fence)


def child_command(mode: str, *args: str) -> list[str]:
    return [sys.executable, FIXTURE, mode, *args]


async def ensure_dataset(sessions: Sessions, key: str = DATASET_KEY) -> None:
    async with sessions() as session:
        if await session.get(models.Dataset, key) is None:
            session.add(
                models.Dataset(
                    key=key,
                    name=key.rsplit("-", 1)[0],
                    version="v1",
                    filters={},
                    selection_strategy="latest",
                    trace_count=0,
                    train_count=0,
                    holdout_count=0,
                    content_hash="0" * 64,
                )
            )
            await session.commit()


async def enqueue(sessions: Sessions, **fields: Any) -> uuid.UUID:
    await ensure_dataset(sessions)
    request = RunRequest.model_validate({"dataset_key": DATASET_KEY, **fields})
    async with sessions() as session:
        run, _ = await queue.enqueue_run(
            session, request, default_timeout_s=600, default_max_attempts=3
        )
        await session.commit()
        return run.id


def worker_context(settings: Settings, sessions: Sessions, mode: str, *args: str) -> WorkerContext:
    custom = settings.model_copy(update={"worker_command": child_command(mode, *args)})
    return WorkerContext(settings=custom, sessions=sessions, hub=None)


async def wait_for_status(
    sessions: Sessions, run_id: uuid.UUID, wanted: set[str], timeout_s: float = 30
) -> models.Run:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        async with sessions() as session:
            run = await queue.read_run(session, run_id)
        if run.status in wanted:
            return run
        if loop.time() > deadline:
            raise AssertionError(f"run {run_id} stayed {run.status}, wanted {wanted}")
        await asyncio.sleep(0.05)


async def wait_terminal(sessions: Sessions, run_id: uuid.UUID, timeout_s: float = 30) -> models.Run:
    return await wait_for_status(sessions, run_id, set(states.TERMINAL), timeout_s)


async def wait_for_file(path: Path, timeout_s: float = 15) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        text = await asyncio.to_thread(_read_or_empty, path)
        if text:
            return text
        if loop.time() > deadline:
            raise AssertionError(f"{path} never appeared")
        await asyncio.sleep(0.05)


def _read_or_empty(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


async def wait_pid_gone(pid: int, timeout_s: float = 10) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while pid_alive(pid):
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True
