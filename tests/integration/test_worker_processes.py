"""Real `tunix-rt worker` processes: many workers, one claim per run; SIGKILL; SIGTERM drain."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.integration.worker_helpers import (
    Sessions,
    attempt_dir,
    child_command,
    enqueue,
    wait_for_file,
    wait_for_status,
    wait_pid_gone,
)
from tunix_rt.db import models
from tunix_rt.runs import queue
from tunix_rt.settings import Settings
from tunix_rt.worker.context import WorkerContext
from tunix_rt.worker.reaper import Reaper

TUNIX_RT = str(Path(sys.executable).parent / "tunix-rt")


class WorkerProcs:
    def __init__(self, settings: Settings, command: list[str], **env: str) -> None:
        self.env = {
            **os.environ,
            "TUNIX_RT_HOME": str(settings.home),
            "TUNIX_RT_DATABASE_URL": settings.database_url,
            "TUNIX_RT_WORKER_COMMAND": json.dumps(command),
            "TUNIX_RT_HEARTBEAT_INTERVAL_S": "0.5",
            "TUNIX_RT_LEASE_S": "3",
            "TUNIX_RT_REAPER_INTERVAL_S": "0.5",
            "TUNIX_RT_POLL_INTERVAL_S": "0.1",
            "TUNIX_RT_CANCEL_GRACE_S": "1",
            **env,
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int, concurrency: int = 1) -> None:
        for _ in range(count):
            self.procs.append(
                subprocess.Popen(
                    [TUNIX_RT, "worker", "--concurrency", str(concurrency)],
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )

    def stop(self) -> list[int]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=20))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        return codes


@pytest.fixture
def procs_factory(settings: Settings) -> Iterator[list[WorkerProcs]]:
    made: list[WorkerProcs] = []
    yield made
    for group in made:
        group.stop()


async def test_many_worker_processes_claim_each_run_once(
    settings: Settings, sessions: Sessions, backend: str, procs_factory: list[WorkerProcs]
) -> None:
    total, nprocs = 200, (4 if backend == "postgresql" else 2)
    ids = [await enqueue(sessions) for _ in range(total)]
    group = WorkerProcs(settings, ["/bin/true"])
    procs_factory.append(group)
    started = time.monotonic()
    group.start(nprocs)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        async with sessions() as session:
            done = (
                await session.execute(select(func.count()).where(models.Run.status == "completed"))
            ).scalar()
        if done == total or loop.time() > deadline:
            break
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - started
    assert group.stop() == [0] * nprocs
    async with sessions() as session:
        claims = dict(
            (
                await session.execute(
                    select(models.RunEvent.run_id, func.count())
                    .where(models.RunEvent.to_status == "running")
                    .group_by(models.RunEvent.run_id)
                )
            ).all()
        )
        runs = (await session.scalars(select(models.Run))).all()
    assert done == total, f"only {done}/{total} completed in {elapsed:.1f}s"
    assert all(claims.get(run_id) == 1 for run_id in ids)
    assert {r.status for r in runs} == {"completed"} and {r.attempt for r in runs} == {1}
    assert len({r.worker_id for r in runs}) >= 2  # the work really was shared
    assert elapsed < 60


async def test_sigkilled_worker_run_is_reaped_and_child_dies(
    settings: Settings, sessions: Sessions, procs_factory: list[WorkerProcs]
) -> None:
    run_id = await enqueue(sessions, max_attempts=2)
    group = WorkerProcs(settings, child_command("sleep", "120"))
    procs_factory.append(group)
    group.start(1)
    run_dir = attempt_dir(settings, run_id)
    child = int(await wait_for_file(run_dir / "child.pid", timeout_s=30))
    await wait_for_status(sessions, run_id, {"running"})
    group.procs[0].kill()
    group.procs[0].wait()
    killed_at = time.monotonic()
    assert await wait_pid_gone(child, timeout_s=5), "the orphaned child outlived its worker"
    ctx = WorkerContext(
        settings=settings.model_copy(update={"reaper_interval_s": 0.5}),
        sessions=sessions,
        hub=None,
    )
    reaper = Reaper(ctx)
    reaper.start()
    try:
        run = await wait_for_status(sessions, run_id, {"pending", "failed"}, timeout_s=15)
    finally:
        await reaper.stop()
    took = time.monotonic() - killed_at
    assert run.status == "pending" and run.attempt == 1 and run.worker_id is None
    assert took <= 3 + 0.5 + 2.0  # lease + reaper interval + slack
    async with sessions() as session:
        last = (
            await session.scalars(
                select(models.RunEvent)
                .where(models.RunEvent.run_id == run_id)
                .order_by(models.RunEvent.id.desc())
            )
        ).first()
    assert last is not None and last.reason == "lease_expired"


async def test_sigterm_drains_worker_and_hands_run_back(
    settings: Settings, sessions: Sessions, procs_factory: list[WorkerProcs]
) -> None:
    run_id = await enqueue(sessions)
    group = WorkerProcs(settings, child_command("sleep", "120"), TUNIX_RT_DRAIN_TIMEOUT_S="0.5")
    procs_factory.append(group)
    group.start(1)
    run_dir = attempt_dir(settings, run_id)
    child = int(await wait_for_file(run_dir / "child.pid", timeout_s=30))
    await wait_for_status(sessions, run_id, {"running"})
    started = time.monotonic()
    assert group.stop() == [0]
    assert time.monotonic() - started < 10
    async with sessions() as session:
        run = await queue.read_run(session, run_id)
    assert run.status == "pending" and run.attempt == 0
    assert await wait_pid_gone(child)


async def test_worker_finishes_short_run_before_exiting(
    settings: Settings, sessions: Sessions, procs_factory: list[WorkerProcs]
) -> None:
    run_id = await enqueue(sessions)
    group = WorkerProcs(settings, child_command("sleep", "1.5"))
    procs_factory.append(group)
    group.start(1)
    await wait_for_file(attempt_dir(settings, run_id) / "child.pid", timeout_s=30)
    assert group.stop() == [0]
    async with sessions() as session:
        run = await queue.read_run(session, run_id)
    assert run.status == "completed" and run.attempt == 1
