"""`tunix-rt runs create --algorithm grpo --init-from RUN[:CKPT]` and `tunix-rt runs rollouts`
as subprocesses against a real `tunix-rt serve` (both databases) whose worker runs the GRPO
fixture child (tests/fixtures/grpo_child.py; an SFT run is the plain fixture child)."""

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

GRPO_CHILD = Path(__file__).resolve().parents[1] / "fixtures" / "grpo_child.py"


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("cli-grpo") / "home"
    command = json.dumps([sys.executable, str(GRPO_CHILD), "ok"])
    srv = start_server(database_url, home, TUNIX_RT_WORKER_COMMAND=command)
    try:
        yield srv
    finally:
        srv.stop()
        empty_database(database_url)


def submit(server: Server, *args: str) -> dict[str, object]:
    done = run_cli(server.url, "runs", "create", "--json", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    run: dict[str, object] = json.loads(done.stdout)
    return run


def test_grpo_from_the_cli_and_its_rollouts(server: Server) -> None:
    dataset = make_dataset(server.url, "cli-grpo")
    sft = submit(server, "--dataset", dataset, "--steps", "3")
    sft_id = str(sft["run_id"])
    assert wait_for_status(server.url, sft_id, {"completed"})["status"] == "completed"

    bad = run_cli(server.url, "runs", "create", "-d", dataset, "--init-from", f"{sft_id}:newest")
    assert bad.returncode == 2 and "--init-from must be RUN[:latest|best|STEP]" in bad.stderr
    bad = run_cli(server.url, "runs", "create", "-d", dataset, "--grpo", "beta")
    assert bad.returncode == 2 and "--grpo must be KEY=NUMBER" in bad.stderr
    refused = run_cli(server.url, "runs", "create", "-d", dataset, "--init-from", f"{sft_id[:8]}:7")
    assert refused.returncode == 1 and "no checkpoint at step 7" in refused.stderr

    grpo = submit(
        server,
        "--dataset",
        dataset,
        "--algorithm",
        "grpo",
        "--init-from",
        f"{sft_id[:8]}:latest",  # a short id, resolved by the CLI
        "--steps",
        "2",
        "--grpo",
        "rollout_every_steps=2",
        "--grpo",
        "num_generations=4",
        "--grpo",
        "beta=0.01",
    )
    request = grpo["request"]
    assert isinstance(request, dict)
    assert request["algorithm"] == "grpo"
    assert request["init_from"] == {"run_id": sft_id, "checkpoint": 3}
    assert request["grpo"]["beta"] == 0.01 and request["grpo"]["rollout_every_steps"] == 2
    run_id = str(grpo["run_id"])
    run = wait_for_status(server.url, run_id, {"completed", "failed"})
    assert run["status"] == "completed", run["error"]

    shown = run_cli(server.url, "runs", "rollouts", run_id[:8], "--filter", "correct")
    assert shown.returncode == 0, shown.stderr
    assert "step 2 (correct): 8 completions; steps with rollouts: 1, 2" in shown.stdout
    assert "Answer:" in shown.stdout and " no " not in shown.stdout
    as_json = run_cli(server.url, "runs", "rollouts", run_id, "--step", "1", "--json")
    page = json.loads(as_json.stdout)
    assert page["step"] == 1 and page["total"] == 16 and len(page["items"]) == 16
    missing = run_cli(server.url, "runs", "rollouts", run_id, "--step", "5")
    assert missing.returncode == 1 and "no rollouts at step 5" in missing.stderr
