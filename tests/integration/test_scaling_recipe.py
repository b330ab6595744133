"""docs/scaling.md's recipe, followed literally: a throwaway PostgreSQL database,
`tunix-rt db upgrade`, `tunix-rt serve --workers 0`, two `tunix-rt worker` processes, runs
submitted with the CLI; every run completes and both workers take a share.

The workers run the fixture child (TUNIX_RT_WORKER_COMMAND) instead of real training.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pg
from tests.integration.cli_server import (
    TUNIX_RT,
    make_dataset,
    run_cli,
    service_env,
    start_server,
    start_worker,
)

RUNS = 6
STEPS = 30
BAD_ENDS = ("failed", "cancelled", "timeout")
STEP_S = "0.03"  # ~1 s per run: long enough that one worker cannot take them all


@pytest.fixture
def recipe_database(pg_server: pg.PgServer) -> Iterator[str]:
    url = pg.create_database(pg_server.admin_url)  # step 1: createdb
    yield url
    pg.drop_database(pg_server.admin_url, url)


def test_server_plus_two_workers_on_postgresql(recipe_database: str, tmp_path: Path) -> None:
    home = tmp_path / "home"  # step 1: one shared TUNIX_RT_HOME
    home.mkdir()
    upgraded = subprocess.run(  # step 2
        [TUNIX_RT, "db", "upgrade"],
        env=service_env(recipe_database, home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert "postgresql" in upgraded.stdout

    server = start_server(recipe_database, home, "--workers", "0")  # step 3
    workers = [  # step 4
        start_worker(
            recipe_database, home, name, CUDA_VISIBLE_DEVICES=str(i), CLI_CHILD_STEP_S=STEP_S
        )
        for i, name in enumerate(("gpu0", "gpu1"))
    ]
    try:
        key = make_dataset(server.url, "scaling")  # step 5
        run_ids = []
        for seed in range(RUNS):
            done = run_cli(
                server.url,
                "runs", "submit", "--dataset", key, "--steps", str(STEPS), "--seed", str(seed),
                "--json",
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            run_ids.append(json.loads(done.stdout)["run_id"])

        deadline = time.monotonic() + 120
        while True:
            listed = run_cli(server.url, "runs", "list", "--dataset", key, "--json")
            rows = {r["run_id"]: r for r in json.loads(listed.stdout)["data"]}
            if all(rows[r]["status"] == "completed" for r in run_ids):
                break
            stuck = {r: rows[r]["status"] for r in run_ids if rows[r]["status"] in BAD_ENDS}
            assert not stuck, stuck
            assert time.monotonic() < deadline, f"runs not done: {rows}"
            time.sleep(0.5)

        worker_ids = {rows[r]["worker_id"] for r in run_ids}
        assert len(worker_ids) == 2, worker_ids  # both workers took a share
        for run_id in run_ids:
            eval_json = home / "artifacts" / run_id / "attempts" / "1" / "eval.json"
            assert eval_json.is_file()  # the shared store
        shown = run_cli(server.url, "runs", "show", run_ids[0])
        assert rows[run_ids[0]]["worker_id"] in shown.stdout
    finally:
        for worker in workers:
            worker.stop()
        server.stop()
    for worker in workers:
        assert worker.proc is not None and worker.proc.returncode == 0, worker.output()
