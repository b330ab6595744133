"""`tunix-rt runs ...` as subprocesses against a real `tunix-rt serve` (both databases).

The server's worker runs tests/fixtures/cli_child.py instead of real training, so a run takes
well under a second; the fixture writes a checkpoint, eval.json and metrics like the trainer.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.cli_server import (
    Server,
    make_dataset,
    module_server,
    run_cli,
    spawn_cli,
    wait_for_status,
)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with module_server(database_url, tmp_path_factory.mktemp("cli-runs") / "home") as srv:
        yield srv


@pytest.fixture(scope="module")
def dataset(server: Server) -> str:
    return make_dataset(server.url, "cli-duel")


def submit(server: Server, dataset: str, *args: str) -> str:
    done = run_cli(server.url, "runs", "submit", "--dataset", dataset, "--json", *args)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["run_id"])


def test_submit_follow_prints_log_progress_and_eval(server: Server, dataset: str) -> None:
    done = run_cli(server.url, "runs", "submit", "--dataset", dataset, "--steps", "12", "-f")
    assert done.returncode == 0, done.stdout + done.stderr
    for step in range(1, 13):
        assert done.stdout.count(f"step {step}/12 loss") == 1
    assert "cli_child: a warning on stderr" in done.stdout
    assert "exact_match" in done.stdout and "95.0%" in done.stdout
    assert "completed" in done.stdout
    assert "12/12" in done.stdout  # the progress bar's final state


def test_list_show_and_json_agree(server: Server, dataset: str) -> None:
    run_id = submit(server, dataset, "--steps", "3")
    wait_for_status(server.url, run_id, {"completed"})
    listed = run_cli(server.url, "runs", "list", "--dataset", dataset, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["run_id"]: row for row in json.loads(listed.stdout)["data"]}
    assert rows[run_id]["status"] == "completed"
    table = run_cli(server.url, "runs", "list", "--status", "completed")
    assert run_id in table.stdout and "completed" in table.stdout
    shown = run_cli(server.url, "runs", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert run_id in shown.stdout
    assert "running → completed" in shown.stdout and "exact_match" in shown.stdout


def test_artifacts_download_verified_and_resumed(
    server: Server, dataset: str, tmp_path: Path
) -> None:
    run_id = submit(server, dataset, "--steps", "4")
    wait_for_status(server.url, run_id, {"completed"})
    listed = run_cli(server.url, "runs", "artifacts", run_id, "--json")
    assert listed.returncode == 0, listed.stderr
    artifacts = {a["name"]: a for a in json.loads(listed.stdout)}
    assert "eval.json" in artifacts
    eval_artifact = artifacts["eval.json"]

    target = tmp_path / "eval.json"
    done = run_cli(server.url, "runs", "download", run_id, "eval.json", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(target.read_bytes()).hexdigest() == eval_artifact["sha256"]
    assert json.loads(target.read_text())["summary"]["exact_match"] == 0.95

    # A file left half-downloaded is completed with a Range request (named by artifact id).
    state = artifacts["tokenizer.model"]
    whole = httpx.get(f"{server.url}/api/tunix/runs/{run_id}/artifacts/{state['id']}/download")
    partial = tmp_path / "tokenizer.model"
    partial.with_name("tokenizer.model.part").write_bytes(whole.content[:1000])
    done = run_cli(server.url, "runs", "download", run_id, state["id"], "-o", str(partial))
    assert done.returncode == 0, done.stderr
    assert partial.read_bytes() == whole.content
    assert not partial.with_name("tokenizer.model.part").exists()

    # A corrupt partial file fails the digest check: exit 1, a message, the part removed. (It
    # also proves the resume asked for a Range: a full re-download would have succeeded.)
    bad = tmp_path / "bad.bin"
    bad.with_name("bad.bin.part").write_bytes(b"x" * 1000)
    done = run_cli(server.url, "runs", "download", run_id, state["id"], "-o", str(bad))
    assert done.returncode == 1
    assert "sha256 mismatch" in done.stderr and "Traceback" not in done.stderr
    assert not bad.exists() and not bad.with_name("bad.bin.part").exists()


def test_download_directory_as_tar(server: Server, dataset: str, tmp_path: Path) -> None:
    run_id = submit(server, dataset, "--steps", "2")
    wait_for_status(server.url, run_id, {"completed"})
    artifacts = json.loads(run_cli(server.url, "runs", "artifacts", run_id, "--json").stdout)
    directory = next((a for a in artifacts if a["kind"] == "directory"), None)
    if directory is None:
        pytest.skip("the server registers no directory artifacts")
    target = tmp_path / "ckpt.tar"
    done = run_cli(server.url, "runs", "download", run_id, directory["name"], "-o", str(target))
    assert done.returncode == 0, done.stderr
    with tarfile.open(target) as tar:
        assert any(name.endswith("state.bin") for name in tar.getnames())


def test_failed_run_exits_1_and_retry_links_it(server: Server, dataset: str) -> None:
    done = run_cli(
        server.url, "runs", "submit", "-d", dataset, "--seed", "13", "--max-attempts", "1", "-f"
    )
    assert done.returncode == 1
    assert "failed" in done.stderr and "Traceback" not in done.stderr
    assert "seed 13 always fails" in done.stdout
    run_id = done.stdout.split("submitted run ", 1)[1].split(";", 1)[0].strip()
    retried = run_cli(server.url, "runs", "retry", run_id, "--json")
    assert retried.returncode == 0, retried.stderr
    new_run = json.loads(retried.stdout)
    assert new_run["retry_of"] == run_id and new_run["run_id"] != run_id


def test_cancel_follow_and_delete(server: Server, dataset: str) -> None:
    run_id = submit(server, dataset, "--steps", "100000")
    wait_for_status(server.url, run_id, {"running"})
    follower = spawn_cli(server.url, "runs", "logs", run_id, "-f")
    cancelled = run_cli(server.url, "runs", "cancel", run_id)
    assert cancelled.returncode == 0, cancelled.stderr
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 1
    assert "step 1/100000" in out and "cancelled" in err
    deleted = run_cli(server.url, "runs", "delete", run_id)
    assert deleted.returncode == 0, deleted.stderr
    gone = run_cli(server.url, "runs", "show", run_id)
    assert gone.returncode == 1 and "not found" in gone.stderr


def test_logs_snapshot_since_and_tail(server: Server, dataset: str) -> None:
    run_id = submit(server, dataset, "--steps", "6")
    wait_for_status(server.url, run_id, {"completed"})
    everything = run_cli(server.url, "runs", "logs", run_id)
    assert everything.returncode == 0, everything.stderr
    assert "step 1/6" in everything.stdout and "cli_child: done" in everything.stdout
    tail = run_cli(server.url, "runs", "logs", run_id, "--tail", "1")
    assert tail.stdout.strip().splitlines() == ["cli_child: done"]
    lines = [
        json.loads(line)
        for line in run_cli(server.url, "runs", "logs", run_id, "--json").stdout.splitlines()
    ]
    seqs = [line["seq"] for line in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    since = run_cli(server.url, "runs", "logs", run_id, "--since", str(seqs[-2]), "--json")
    assert [json.loads(line)["seq"] for line in since.stdout.splitlines()] == seqs[-1:]
    followed = run_cli(server.url, "runs", "logs", run_id, "-f", "--since", str(seqs[-3]))
    assert followed.returncode == 0
    assert "step 1/6" not in followed.stdout and "cli_child: done" in followed.stdout


def test_errors_are_one_line_with_exit_1(server: Server, dataset: str) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    for args in (
        ("runs", "show", unknown),
        ("runs", "logs", unknown, "-f"),
        ("runs", "cancel", unknown),
        ("runs", "artifacts", unknown),
        ("runs", "show", "not-a-uuid"),
        ("runs", "submit", "--dataset", "no-such-dataset"),
        ("runs", "submit", "--dataset", dataset, "--model", "/no/such/dir"),
    ):
        done = run_cli(server.url, *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("error: "), (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    usage = run_cli(server.url, "runs", "submit", "--dataset", dataset, "--steps", "0")
    assert usage.returncode == 2 and "--steps" in usage.stderr
    verbose = run_cli(server.url, "-v", "runs", "show", unknown)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_server_down_is_a_clear_error(tmp_path: Path) -> None:
    done = run_cli("http://127.0.0.1:9", "runs", "list")
    assert done.returncode == 1
    assert "cannot reach the tunix-rt server at http://127.0.0.1:9" in done.stderr
