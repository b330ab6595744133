"""CLI tables fit 80 columns (and a pipe, where Rich sees no terminal) without losing values;
`runs` commands take the UI's short ids. A real `tunix-rt serve` on both databases."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.cli_server import (
    Server,
    make_dataset,
    module_server,
    run_cli,
    wait_for_status,
)
from tunix_rt.db import engine as db_engine
from tunix_rt.runs import queue
from tunix_rt.runs.schema import RunRequest

WIDTH = 80
# COLUMNS=80 as a terminal of 80 columns would say; None: no COLUMNS at all, a plain pipe.
NARROW = ("80", None)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with module_server(database_url, tmp_path_factory.mktemp("cli-tables") / "home") as srv:
        yield srv


@pytest.fixture(scope="module")
def dataset(server: Server) -> str:
    return make_dataset(server.url, "cli-tables-duel")


@pytest.fixture(scope="module")
def finished_runs(server: Server, dataset: str) -> list[str]:
    run_ids = []
    for steps in ("3", "4", "5"):
        done = run_cli(server.url, "runs", "submit", "-d", dataset, "--steps", steps, "--json")
        assert done.returncode == 0, done.stderr
        run_ids.append(json.loads(done.stdout)["run_id"])
    for run_id in run_ids:
        wait_for_status(server.url, run_id, {"completed"})
    return run_ids


def assert_fits(text: str) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not too_wide, too_wide


@pytest.mark.parametrize("columns", NARROW, ids=["columns-80", "pipe"])
def test_runs_list_fits_80_columns_keeping_ids_and_status(
    server: Server, dataset: str, finished_runs: list[str], columns: str | None
) -> None:
    done = run_cli(server.url, "runs", "list", "--dataset", dataset, columns=columns)
    assert done.returncode == 0, done.stderr
    assert_fits(done.stdout)
    lines = done.stdout.splitlines()
    for run_id in finished_runs:
        row = next((line for line in lines if run_id in line), None)
        assert row is not None, (run_id, done.stdout)
        assert "completed" in row, row  # the status stays on the id's line
    # The folded columns are still there, under each row.
    assert done.stdout.count(dataset) >= len(finished_runs)
    assert "tiny" in done.stdout


def test_runs_list_wide_terminal_is_one_line_per_run(
    server: Server, dataset: str, finished_runs: list[str]
) -> None:
    done = run_cli(server.url, "runs", "list", "--dataset", dataset, columns="200")
    rows = [line for line in done.stdout.splitlines() if any(r in line for r in finished_runs)]
    assert len(rows) == len(finished_runs)
    assert all(dataset in row and "tiny" in row for row in rows), rows


@pytest.mark.parametrize("columns", NARROW, ids=["columns-80", "pipe"])
def test_runs_artifacts_fits_80_columns_keeping_names(
    server: Server, finished_runs: list[str], columns: str | None
) -> None:
    run_id = finished_runs[0]
    artifacts = json.loads(run_cli(server.url, "runs", "artifacts", run_id, "--json").stdout)
    assert len(artifacts) >= 3
    done = run_cli(server.url, "runs", "artifacts", run_id, columns=columns)
    assert done.returncode == 0, done.stderr
    assert_fits(done.stdout)
    lines = done.stdout.splitlines()
    for artifact in artifacts:
        row = next((line for line in lines if line.startswith(artifact["name"] + " ")), None)
        assert row is not None, (artifact["name"], done.stdout)
        assert artifact["id"] in done.stdout


@pytest.mark.parametrize("columns", NARROW, ids=["columns-80", "pipe"])
def test_runs_show_traces_and_datasets_list_fit_80_columns(
    server: Server, dataset: str, finished_runs: list[str], columns: str | None
) -> None:
    shown = run_cli(server.url, "runs", "show", finished_runs[0], columns=columns)
    assert shown.returncode == 0, shown.stderr
    assert finished_runs[0] in shown.stdout and "95.0%" in shown.stdout
    traces = run_cli(server.url, "traces", "list", "--json")
    trace_ids = [row["id"] for row in json.loads(traces.stdout)["data"]]
    listed = run_cli(server.url, "traces", "list", columns=columns)
    assert listed.returncode == 0, listed.stderr
    assert_fits(listed.stdout)
    assert all(trace_id in listed.stdout for trace_id in trace_ids)
    manifest = json.loads(run_cli(server.url, "datasets", "show", dataset, "--json").stdout)
    datasets = run_cli(server.url, "datasets", "list", columns=columns)
    assert datasets.returncode == 0, datasets.stderr
    assert_fits(datasets.stdout)
    row = next(line for line in datasets.stdout.splitlines() if line.startswith(dataset))
    assert manifest["created_at"][:10] in datasets.stdout
    assert manifest["content_hash"][:12] in datasets.stdout, (row, datasets.stdout)
    shown_dataset = run_cli(server.url, "datasets", "show", dataset, columns=columns)
    assert_fits(shown_dataset.stdout)
    assert manifest["content_hash"] in "".join(
        line.strip("│ ") for line in shown_dataset.stdout.splitlines()
    )


def test_commands_accept_the_short_id(
    server: Server, finished_runs: list[str], tmp_path: Path
) -> None:
    run_id = finished_runs[1]
    short = run_id[:8]
    shown = run_cli(server.url, "runs", "show", short, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["run_id"] == run_id
    # stdout and stderr are tailed separately, so the last stored line may be either stream's.
    logs = run_cli(server.url, "runs", "logs", short, "--tail", "100")
    assert logs.returncode == 0 and "cli_child: done" in logs.stdout, logs.stderr
    followed = run_cli(server.url, "runs", "logs", short, "-f")
    assert followed.returncode == 0, followed.stderr
    artifacts = run_cli(server.url, "runs", "artifacts", short, "--json")
    assert artifacts.returncode == 0, artifacts.stderr
    eval_id = next(a["id"] for a in json.loads(artifacts.stdout) if a["name"] == "eval.json")
    target = tmp_path / "eval.json"
    got = run_cli(server.url, "runs", "download", short, eval_id[:8], "-o", str(target))
    assert got.returncode == 0, got.stderr
    assert json.loads(target.read_text())["summary"]["exact_match"] == 0.95
    # Upper case and a dashed prefix longer than 8 digits name the same run.
    upper = run_cli(server.url, "runs", "show", run_id[:13].upper(), "--json")
    assert json.loads(upper.stdout)["run_id"] == run_id
    retried = run_cli(server.url, "runs", "retry", short)
    assert retried.returncode == 1 and "only failed, cancelled or timeout" in retried.stderr


def enqueue_with_ids(
    database_url: str, dataset: str, run_ids: list[uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queue runs with chosen ids (random ids almost never share a 4+ digit prefix)."""
    real_uuid4 = uuid.uuid4

    async def enqueue() -> None:
        engine = db_engine.create_engine(database_url)
        try:
            async with db_engine.create_session_factory(engine)() as session:
                for run_id in run_ids:
                    chosen = iter([run_id])

                    def fake_uuid4(chosen: Iterator[uuid.UUID] = chosen) -> uuid.UUID:
                        # enqueue_run's first uuid4() is the run id; later calls are real.
                        return next(chosen, None) or real_uuid4()

                    monkeypatch.setattr(queue.uuid, "uuid4", fake_uuid4)
                    request = RunRequest(dataset_key=dataset, model_id="tiny", max_steps=2)
                    await queue.enqueue_run(
                        session, request, default_timeout_s=60, default_max_attempts=1
                    )
                    monkeypatch.setattr(queue.uuid, "uuid4", real_uuid4)
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(enqueue())


def test_short_id_ambiguous_or_unknown_is_a_clear_error(
    server: Server, dataset: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = secrets.token_hex(3)  # 6 digits no other run of this session starts with
    first = uuid.UUID(prefix + "0" + real_tail())
    second = uuid.UUID(prefix + "1" + real_tail())
    enqueue_with_ids(database_url, dataset, [first, second], monkeypatch)

    ambiguous = run_cli(server.url, "runs", "show", prefix)
    assert ambiguous.returncode == 1
    assert "matches several runs" in ambiguous.stderr and "Traceback" not in ambiguous.stderr
    assert str(first) in ambiguous.stderr and str(second) in ambiguous.stderr

    unique = run_cli(server.url, "runs", "show", prefix + "1", "--json")
    assert unique.returncode == 0, unique.stderr
    assert json.loads(unique.stdout)["run_id"] == str(second)

    unknown = run_cli(server.url, "runs", "cancel", "0" * 4 + prefix[:4])
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: no run id starts with"), unknown.stderr
    for bad in ("abc", "zzzz1234"):
        done = run_cli(server.url, "runs", "logs", bad)
        assert done.returncode == 1 and "not a run id" in done.stderr, done.stderr

    # The API filter behind it: a range on the primary key, bad prefixes are a 4xx.
    page = httpx.get(f"{server.url}/api/tunix/runs", params={"id_prefix": prefix.upper()})
    assert {row["run_id"] for row in page.json()["data"]} == {str(first), str(second)}
    for bad in ("abc", "xyz!", "----", "a" * 37):
        answer = httpx.get(f"{server.url}/api/tunix/runs", params={"id_prefix": bad})
        assert answer.status_code in (400, 422), (bad, answer.status_code, answer.text)


def real_tail() -> str:
    """25 random hex digits: the rest of a test run id after its chosen 7."""
    return secrets.token_hex(13)[:25]
