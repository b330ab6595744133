"""PostgreSQL restarts while a run streams logs: the worker reconnects, no line is lost or
doubled, and the run ends properly. Uses a private temporary cluster (never the shared one)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests import pg
from tests.integration.worker_helpers import enqueue, wait_terminal, worker_context
from tunix_rt.db import engine as db_engine
from tunix_rt.db import migrate, models
from tunix_rt.runs.notify import Hub
from tunix_rt.settings import Settings
from tunix_rt.worker.loop import Worker

LINES = 400


@pytest.fixture
def private_pg() -> Iterator[pg.PgServer]:
    server, why = pg._start_temporary_cluster()
    if server is None:
        pytest.skip(f"cannot start a private PostgreSQL cluster: {why}")
    yield server
    server.stop()


def restart_cluster(server: pg.PgServer) -> None:
    assert server.cluster_dir is not None and server.pg_ctl is not None
    run_as: dict[str, int] = {}
    if os.geteuid() == 0:
        stat = server.cluster_dir.stat()
        run_as = {"user": stat.st_uid, "group": stat.st_gid}
    result = subprocess.run(
        [
            server.pg_ctl,
            "-D",
            str(server.cluster_dir / "data"),
            "-l",
            str(server.cluster_dir / "log"),
            "-m",
            "fast",
            "-w",
            "restart",
        ],
        capture_output=True,
        text=True,
        check=False,
        **run_as,  # type: ignore[arg-type]
    )
    assert result.returncode == 0, result.stderr


async def test_postgres_restart_mid_stream_loses_no_line(private_pg: pg.PgServer) -> None:
    url = await asyncio.to_thread(pg.create_database, private_pg.admin_url)
    await migrate.upgrade_database(url)
    home = Path(tempfile.mkdtemp(prefix="tunix-rt-restart-"))
    settings = Settings(
        home=home,
        database_url=url,
        heartbeat_interval_s=0.5,
        lease_s=10,
        poll_interval_s=0.1,
        log_flush_interval_ms=20,
    )
    engine = db_engine.create_engine(url)
    sessions = db_engine.create_session_factory(engine)
    hub = Hub()
    await hub.start(url)
    try:
        run_id = await enqueue(sessions)
        ctx = worker_context(settings, sessions, "stream", str(LINES))
        ctx.hub = hub
        worker = Worker(ctx)
        worker.start()
        # Let a good part of the output land, then pull the database out from under it.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:
            async with sessions() as session:
                run = await session.get(models.Run, run_id, populate_existing=True)
            if run is not None and run.log_lines >= 60:
                break
            assert loop.time() < deadline, "the run never started streaming"
            await asyncio.sleep(0.05)
        await asyncio.to_thread(restart_cluster, private_pg)
        run = await wait_terminal(sessions, run_id, timeout_s=60)
        await worker.stop(drain_timeout_s=5)
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(models.RunLogChunk.seq, models.RunLogChunk.text)
                    .where(models.RunLogChunk.run_id == run_id)
                    .order_by(models.RunLogChunk.seq)
                )
            ).all()
        assert run.status == "completed", (run.status, run.error)
        assert [seq for seq, _ in rows] == list(range(1, LINES + 1))
        assert [text for _, text in rows] == [f"line {i}" for i in range(LINES)]
        assert run.log_lines == LINES and run.log_dropped_lines == 0
    finally:
        await hub.stop()
        await engine.dispose()
