"""Ctrl-C on `tunix-rt serve` (and `make run`) with a run active: say what is happening, keep
answering while the run drains, stop faster on a second Ctrl-C, exit 0. Stalled connections
are closed. A real server process on both databases."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.integration.cli_server import (
    REPO,
    empty_database,
    free_port,
    make_dataset,
    service_env,
    start_server,
    wait_for_status,
)
from tunix_rt.db import engine as db_engine
from tunix_rt.runs import registry

SLOW_STEPS = {"CLI_CHILD_STEP_S": "0.05"}


def wait_for_output(output: Callable[[], str], text: str, timeout_s: float) -> float:
    began = time.monotonic()
    while text not in output():
        assert time.monotonic() - began < timeout_s, output()
        time.sleep(0.05)
    return time.monotonic() - began


def read_status(database_url: str, run_id: str) -> str:
    async def read() -> str:
        engine = db_engine.create_engine(database_url)
        try:
            async with db_engine.create_session_factory(engine)() as session:
                return (await registry.read_run(session, uuid.UUID(run_id))).status
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_ctrl_c_drains_the_run_while_serving_then_second_ctrl_c_stops_it(
    database_url: str, tmp_path: Path
) -> None:
    server = start_server(database_url, tmp_path / "home", "--drain-timeout", "120", **SLOW_STEPS)
    try:
        key = make_dataset(server.url, "ctrl-c")
        run = httpx.post(
            f"{server.url}/api/tunix/run", json={"dataset_key": key, "max_steps": 100_000}
        ).json()
        run_id = str(run["run_id"])
        wait_for_status(server.url, run_id, {"running"})
        assert server.proc is not None

        server.proc.send_signal(signal.SIGINT)
        said = f"stopping: waiting up to 120 s for run {run_id[:8]}"
        assert wait_for_output(server.output, said, 5) < 5
        assert "Ctrl-C again" in server.output()
        # Draining: the run goes on and the API still answers (the UI does not freeze).
        time.sleep(1)
        status = httpx.get(f"{server.url}/api/tunix/runs/{run_id}", timeout=5).json()
        assert status["status"] == "running", status
        assert server.proc.poll() is None

        began = time.monotonic()
        server.proc.send_signal(signal.SIGINT)
        server.proc.wait(30)
        assert time.monotonic() - began < 10, server.output()  # not the 120 s grace
        assert server.proc.returncode == 0, server.output()
        assert "stopping now" in server.output() and "Traceback" not in server.output()
        # Handed back to the queue, resumable, not failed.
        assert read_status(database_url, run_id) == "pending"
    finally:
        server.stop()
        empty_database(database_url)


def test_drain_timeout_hands_the_run_back_and_exits_0(database_url: str, tmp_path: Path) -> None:
    server = start_server(database_url, tmp_path / "home", "--drain-timeout", "1", **SLOW_STEPS)
    try:
        key = make_dataset(server.url, "drain")
        run = httpx.post(
            f"{server.url}/api/tunix/run", json={"dataset_key": key, "max_steps": 100_000}
        ).json()
        wait_for_status(server.url, str(run["run_id"]), {"running"})
        assert server.proc is not None
        began = time.monotonic()
        server.proc.send_signal(signal.SIGINT)
        server.proc.wait(30)
        assert time.monotonic() - began < 10, server.output()
        assert server.proc.returncode == 0, server.output()
        assert "waiting up to 1 s" in server.output()
        assert read_status(database_url, str(run["run_id"])) == "pending"
    finally:
        server.stop()
        empty_database(database_url)


def test_make_run_ctrl_c_is_a_clean_stop_without_error_130(
    database_url: str, tmp_path: Path
) -> None:
    """`make run` itself, interrupted the way a terminal does: SIGINT to the whole group."""
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = service_env(
        database_url,
        home,
        TUNIX_RT_PORT=str(port),
        TUNIX_RT_DRAIN_TIMEOUT_S="1",
        **SLOW_STEPS,
    )
    log = tmp_path / "make.log"
    with log.open("wb") as out:
        make = subprocess.Popen(
            ["make", "-o", "install", "-o", "web", "run"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert make.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(1)  # let the demo start its run
        os.killpg(make.pid, signal.SIGINT)
        make.wait(60)
        output = log.read_text()
        # make got the SIGINT too: once its child has exited it re-raises it on itself (no
        # message). "Error 130" is what it prints when the child itself failed.
        assert make.returncode in (0, -signal.SIGINT), output
        assert "Error" not in output and "Traceback" not in output, output
        assert "stopping" in output and "tunix-rt stopped" in output, output
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(10)
        empty_database(database_url)
