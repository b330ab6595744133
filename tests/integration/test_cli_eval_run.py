"""`tunix-rt eval run` / `eval cancel` as subprocesses against a real `tunix-rt serve` whose
worker runs the fixture child (both databases)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.integration.cli_server import (
    Server,
    make_dataset,
    module_server,
    run_cli,
    wait_for_status,
)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with module_server(database_url, tmp_path_factory.mktemp("cli-eval-run") / "home") as srv:
        yield srv


@pytest.fixture(scope="module")
def trained(server: Server) -> str:
    dataset = make_dataset(server.url, "cli-eval-run")
    done = run_cli(server.url, "runs", "submit", "--dataset", dataset, "--steps", "4", "--json")
    assert done.returncode == 0, done.stderr
    run_id = str(json.loads(done.stdout)["run_id"])
    wait_for_status(server.url, run_id, {"completed"})
    return run_id


def test_eval_run_follows_the_job_and_prints_the_record(server: Server, trained: str) -> None:
    done = run_cli(server.url, "eval", "run", trained[:8], "--checkpoint", "4", "-f")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cli_child: done" in done.stdout  # the job's log, streamed
    assert "completed" in done.stdout and "holdout" in done.stdout


def test_eval_run_json_then_cancel_refuses_an_ended_one(server: Server, trained: str) -> None:
    done = run_cli(server.url, "eval", "run", trained, "--split", "all", "--json")
    assert done.returncode == 0, done.stderr
    submitted = json.loads(done.stdout)
    assert submitted["step"] == 4 and submitted["status"] == "pending"
    wait_for_status(server.url, submitted["job_id"], {"completed"})
    cancelled = run_cli(server.url, "eval", "cancel", submitted["evaluation_id"][:8])
    assert cancelled.returncode == 1
    assert "already ended" in cancelled.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--checkpoint", "first"], "--checkpoint must be latest, best or a step"),
        (["--checkpoint", "99"], "no checkpoint at step 99"),
        (["--checkpoint", "best"], "no best checkpoint"),
        (["--split", "dev"], "--split must be one of"),
        (["--dataset", "missing-v9"], "missing-v9"),
    ],
)
def test_eval_run_refusals_are_one_line_and_exit_1(
    server: Server, trained: str, args: list[str], words: str
) -> None:
    done = run_cli(server.url, "eval", "run", trained, *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr
