"""Real processes for CLI tests: `tunix-rt serve` / `tunix-rt worker` subprocesses and CLI calls.

Everything talks over real HTTP on a free port, with a temporary TUNIX_RT_HOME and the test
session's database (SQLite file or throwaway PostgreSQL database).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import empty_tables
from tunix_rt.db import engine as db_engine

REPO = Path(__file__).resolve().parents[2]
TUNIX_RT = str(Path(sys.executable).parent / "tunix-rt")
CHILD_SCRIPT = REPO / "tests" / "fixtures" / "cli_child.py"
FIXTURE_COMMAND = json.dumps([sys.executable, str(CHILD_SCRIPT)])
READY_TIMEOUT_S = 60.0
CLI_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(database_url: str, home: Path, **extra: str) -> dict[str, str]:
    """Environment for serve/worker: fast timings, the fixture child unless overridden
    (an empty value unsets a variable, e.g. TUNIX_RT_WORKER_COMMAND="" for real training)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNIX_RT_")}
    env.update(
        TUNIX_RT_HOME=str(home),
        TUNIX_RT_DATABASE_URL=database_url,
        TUNIX_RT_WORKER_COMMAND=FIXTURE_COMMAND,
        TUNIX_RT_HEARTBEAT_INTERVAL_S="0.5",
        TUNIX_RT_LEASE_S="5",
        TUNIX_RT_REAPER_INTERVAL_S="0.5",
        TUNIX_RT_POLL_INTERVAL_S="0.1",
        TUNIX_RT_CANCEL_GRACE_S="2",
        TUNIX_RT_SSE_HEARTBEAT_S="1",
    )
    for key, value in extra.items():
        if value:
            env[key] = value
        else:
            env.pop(key, None)
    return env


@dataclass
class Service:
    """A `tunix-rt serve` or `tunix-rt worker` subprocess with its output in a file."""

    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def start(self) -> Service:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
        )
        log.close()
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: a crash, no graceful close of open streams."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@dataclass
class Server(Service):
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> Server:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server not ready after {READY_TIMEOUT_S}s:\n{self.output()}")


def start_server(
    database_url: str, home: Path, *args: str, port: int | None = None, **env: str
) -> Server:
    port = port or free_port()
    server = Server(
        argv=[TUNIX_RT, "serve", "--port", str(port), *args],
        env=service_env(database_url, home, **env),
        log_path=home.parent / f"serve-{port}.log",
        port=port,
    )
    home.mkdir(parents=True, exist_ok=True)
    return server.start().wait_ready()


def start_worker(database_url: str, home: Path, name: str, **env: str) -> Service:
    worker = Service(
        argv=[TUNIX_RT, "worker"],
        env=service_env(database_url, home, **env),
        log_path=home.parent / f"worker-{name}.log",
    )
    home.mkdir(parents=True, exist_ok=True)
    return worker.start()


def cli_env(server_url: str, columns: str | None = "200") -> dict[str, str]:
    """The CLI's environment: its output is a pipe, COLUMNS as given (None: unset, so Rich
    falls back to its default width for a pipe)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNIX_RT_")}
    env.pop("COLUMNS", None)
    env.update(TUNIX_RT_SERVER=server_url, NO_COLOR="1")
    if columns is not None:
        env["COLUMNS"] = columns
    return env


def run_cli(
    server_url: str, *args: str, timeout_s: float = CLI_TIMEOUT_S, columns: str | None = "200"
) -> subprocess.CompletedProcess[str]:
    """Run `tunix-rt ARGS` against the server; return the finished process (text output)."""
    env = cli_env(server_url, columns)
    return subprocess.run(
        [TUNIX_RT, *args], env=env, capture_output=True, text=True, timeout=timeout_s, cwd=REPO
    )


def spawn_cli(server_url: str, *args: str) -> subprocess.Popen[str]:
    env = cli_env(server_url)
    return subprocess.Popen(
        [TUNIX_RT, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def make_dataset(server_url: str, name: str, count: int = 40, task: str = "high_card_duel") -> str:
    """Generate traces and freeze them into a dataset through the API; return its key."""
    with httpx.Client(base_url=server_url, timeout=30) as http:
        http.post("/api/traces/generate", json={"task": task, "count": count, "seed": 1})
        built = http.post(
            "/api/datasets/build",
            json={
                "dataset_name": name,
                "dataset_version": "v1",
                "filters": {"task": task},
                "limit": count,
                "holdout_fraction": 0.2,
            },
        )
        assert built.status_code == 201, built.text
        return str(built.json()["dataset_key"])


def wait_for_status(
    server_url: str, run_id: str, statuses: set[str], timeout_s: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        run: dict[str, Any] = httpx.get(f"{server_url}/api/tunix/runs/{run_id}", timeout=10).json()
        if run["status"] in statuses:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run['status']} after {timeout_s}s")
        time.sleep(0.2)


def empty_database(database_url: str) -> None:
    """Empty every table of the test session's database (after a module's server)."""

    async def empty() -> None:
        eng = db_engine.create_engine(database_url)
        try:
            await empty_tables(eng)
        finally:
            await eng.dispose()

    asyncio.run(empty())


@contextmanager
def module_server(database_url: str, home: Path) -> Iterator[Server]:
    """A `tunix-rt serve` for a test module; its rows are emptied when it stops."""
    srv = start_server(database_url, home)
    try:
        yield srv
    finally:
        srv.stop()
        empty_database(database_url)
