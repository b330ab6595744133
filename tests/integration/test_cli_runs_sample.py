"""`tunix-rt runs sample` as a subprocess against a real `tunix-rt serve` (both databases)
whose generate calls run the fixture sample child (tests/fixtures/sample_child.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli_server import (
    Server,
    empty_database,
    make_dataset,
    run_cli,
    start_server,
    wait_for_status,
)

SAMPLE_CHILD = str(Path(__file__).resolve().parents[1] / "fixtures" / "sample_child.py")


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("cli-runs-sample") / "home"
    command = json.dumps([sys.executable, SAMPLE_CHILD, "echo"])
    srv = start_server(database_url, home, TUNIX_RT_SAMPLE_COMMAND=command)
    try:
        yield srv
    finally:
        srv.stop()
        empty_database(database_url)


@pytest.fixture(scope="module")
def trained(server: Server) -> str:
    dataset = make_dataset(server.url, "cli-runs-sample")
    done = run_cli(server.url, "runs", "submit", "--dataset", dataset, "--steps", "4", "--json")
    assert done.returncode == 0, done.stderr
    run_id = str(json.loads(done.stdout)["run_id"])
    wait_for_status(server.url, run_id, {"completed"})
    return run_id


def test_runs_sample_prints_each_completion_and_its_answer(server: Server, trained: str) -> None:
    done = run_cli(server.url, "runs", "sample", trained[:8], "2+2?", "seven", "-c", "4")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "prompt 1: 2+2?" in done.stdout and "prompt 2: seven" in done.stdout
    assert "step 4 weights -1" in done.stdout  # the fixture child saw checkpoint 4 staged
    assert "answer: 4" in done.stdout and "answer: 5" in done.stdout
    assert "checkpoint step 4, temperature 0" in done.stderr


def test_runs_sample_json(server: Server, trained: str) -> None:
    done = run_cli(
        server.url, "runs", "sample", trained, "hello", "--json", "--temperature", "0.7",
        "--seed", "3", "--max-new-tokens", "5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["step"] == 4 and body["temperature"] == 0.7 and body["seed"] == 3
    assert body["max_new_tokens"] == 5
    assert [c["answer"] for c in body["completions"]] == ["5"]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["hi", "--checkpoint", "first"], 2, "--checkpoint must be latest, best or a step"),
        (["hi", "--checkpoint", "99"], 1, "no checkpoint at step 99"),
        (["hi", "--checkpoint", "best"], 1, "no best checkpoint"),
        (["  "], 2, "prompts must not be blank"),
        (["x" * 8001], 1, "prompts.0: String should have at most 8000 characters"),
    ],
)
def test_runs_sample_refusals_are_one_line(
    server: Server, trained: str, args: list[str], code: int, words: str
) -> None:
    done = run_cli(server.url, "runs", "sample", trained, *args)
    assert done.returncode == code, done.stdout + done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr


def test_runs_sample_of_an_unknown_run(server: Server) -> None:
    done = run_cli(server.url, "runs", "sample", "00000000-0000-0000-0000-000000000000", "hi")
    assert done.returncode == 1
    assert "not found" in done.stderr
