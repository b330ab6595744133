"""`tunix-rt demo` and `tunix-rt serve --demo`: the newcomer's first run, as subprocesses.

The worker runs the fixture child (fast) except in the one test that trains for real.
"""

from __future__ import annotations

import importlib.util
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.cli_server import empty_database, run_cli, start_server
from tunix_rt.cli import demo

RUN_URL = re.compile(r"http://127\.0\.0\.1:\d+/runs/([0-9a-f-]{36})")


@pytest.fixture
def home(tmp_path: Path, database_url: str) -> Iterator[Path]:
    yield tmp_path / "home"
    empty_database(database_url)


def count_generated(server_url: str) -> int:
    body = {"filters": {"source": demo.DUEL_SOURCE}}
    response = httpx.post(f"{server_url}/api/datasets/preview", json=body, timeout=10)
    return int(response.json()["trace_count"])


def test_demo_builds_data_trains_and_is_idempotent(database_url: str, home: Path) -> None:
    server = start_server(database_url, home)
    try:
        first = run_cli(server.url, "demo", "--steps", "5")
        assert first.returncode == 0, first.stdout + first.stderr
        generated = f"generated {demo.DUEL_TRACES} high-card-duel and {demo.MULTIPLICATION_TRACES}"
        assert generated in first.stdout
        assert f"built {demo.DATASET_KEY}" in first.stdout
        assert "exact_match" in first.stdout and "completed" in first.stdout
        run_ids = RUN_URL.findall(first.stdout)
        assert run_ids, first.stdout
        run = httpx.get(f"{server.url}/api/tunix/runs/{run_ids[0]}").json()
        assert run["status"] == "completed" and run["dataset_key"] == demo.DATASET_KEY
        manifest = httpx.get(f"{server.url}/api/datasets/{demo.DATASET_KEY}").json()
        assert manifest["holdout_count"] > 0 and manifest["trace_count"] == demo.DUEL_TRACES

        second = run_cli(server.url, "demo", "--steps", "5", "--no-follow")
        assert second.returncode == 0, second.stdout + second.stderr
        assert f"reusing {demo.DATASET_KEY}" in second.stdout
        assert "generated" not in second.stdout
        assert count_generated(server.url) == demo.DUEL_TRACES  # nothing generated twice
        assert set(RUN_URL.findall(second.stdout)) - set(run_ids)  # but a new run
    finally:
        server.stop()


def wait_for_output(server_log: Path, needle: str, timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = server_log.read_text(errors="replace")
        if needle in text:
            return text
        time.sleep(0.3)
    raise AssertionError(f"{needle!r} not in the server output:\n{server_log.read_text()}")


def test_serve_demo_runs_once_on_an_empty_home(database_url: str, home: Path) -> None:
    server = start_server(database_url, home, "--demo", CLI_CHILD_STEP_S="0.02")
    try:
        text = wait_for_output(server.log_path, "still serving on")
        assert "empty home: running the demo" in text
        run_id = RUN_URL.findall(text)[0]
        run = httpx.get(f"{server.url}/api/tunix/runs/{run_id}").json()
        assert run["status"] == "completed" and run["max_steps"] == demo.DEMO_STEPS
    finally:
        server.stop()
    again = start_server(database_url, home, "--demo", port=server.port)
    try:
        text = wait_for_output(again.log_path, "demo skipped")
        runs = httpx.get(f"{again.url}/api/tunix/runs").json()["data"]
        assert [r["run_id"] for r in runs] == [run_id]  # the data was kept, no second run
    finally:
        again.stop()


@pytest.mark.skipif(
    importlib.util.find_spec("tunix") is None, reason="the training stack is not installed"
)
def test_demo_trains_the_tiny_model_for_real(backend: str, database_url: str, home: Path) -> None:
    if backend != "sqlite":
        pytest.skip("one real training run is enough; the queue is the same on PostgreSQL")
    server = start_server(database_url, home, TUNIX_RT_WORKER_COMMAND="")
    try:
        done = run_cli(server.url, "demo", "--steps", "20", "--batch-size", "8", timeout_s=400)
        assert done.returncode == 0, done.stdout + done.stderr
        run_id = RUN_URL.findall(done.stdout)[0]
        run = httpx.get(f"{server.url}/api/tunix/runs/{run_id}").json()
        assert run["status"] == "completed" and run["last_step"] == 20
        assert run["eval"]["n"] > 0 and 0.0 <= run["eval"]["exact_match"] <= 1.0
        names = {
            a["name"] for a in httpx.get(f"{server.url}/api/tunix/runs/{run_id}/artifacts").json()
        }
        assert {"eval.json", "checkpoints/20"} <= names
    finally:
        server.stop()
