"""`tunix-rt runs submit --name/--tag/--notes`, `runs edit`, `runs list --tag/--name` as
subprocesses against a real `tunix-rt serve` (both databases)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.cli_server import Server, make_dataset, module_server, run_cli


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with module_server(database_url, tmp_path_factory.mktemp("cli-labels") / "home") as srv:
        yield srv


@pytest.fixture(scope="module")
def dataset(server: Server) -> str:
    return make_dataset(server.url, "cli-labels-duel")


def cli_json(server: Server, *args: str) -> Any:
    done = run_cli(server.url, *args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_submit_with_labels_then_list_filters_by_tag_and_name(server: Server, dataset: str) -> None:
    labelled = cli_json(
        server,
        "runs", "submit", "-d", dataset, "--steps", "2",
        "--name", "Warmup sweep A", "--tag", "sweep", "--tag", "warmup", "--notes", "try 1",
    )  # fmt: skip
    assert labelled["name"] == "Warmup sweep A"
    assert labelled["tags"] == ["sweep", "warmup"] and labelled["notes"] == "try 1"
    other = cli_json(server, "runs", "submit", "-d", dataset, "--steps", "2", "-t", "sweep")

    both = cli_json(server, "runs", "list", "--tag", "sweep", "--tag", "warmup")
    assert [r["run_id"] for r in both["data"]] == [labelled["run_id"]]
    sweep = cli_json(server, "runs", "list", "--tag", "sweep")
    assert {r["run_id"] for r in sweep["data"]} == {labelled["run_id"], other["run_id"]}
    named = cli_json(server, "runs", "list", "--name", "WARMUP sweep")
    assert [r["run_id"] for r in named["data"]] == [labelled["run_id"]]

    table = run_cli(server.url, "runs", "list", "--tag", "sweep")
    assert table.returncode == 0, table.stderr
    assert "NAME" in table.stdout and "TAGS" in table.stdout
    row = next(line for line in table.stdout.splitlines() if labelled["run_id"] in line)
    assert "Warmup sweep A" in row and "sweep, warmup" in row


def test_edit_by_short_id_renames_tags_untags_and_sets_notes_from_a_file(
    server: Server, dataset: str, tmp_path: Path
) -> None:
    run = cli_json(server, "runs", "submit", "-d", dataset, "--steps", "2", "-t", "old")
    notes_file = tmp_path / "notes.md"
    notes_file.write_text("Loss spikes at step 40.\nSee [link] for details.\n")
    short = run["run_id"][:8]
    done = run_cli(
        server.url,
        "runs", "edit", short, "--name", "[bold]fixed[/bold] lr",
        "--tag", "new", "--tag", "best", "--untag", "old", "--notes-file", str(notes_file),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[bold]fixed[/bold] lr" in done.stdout  # names are printed, never read as markup
    assert "best, new" in done.stdout and "Loss spikes at step 40." in done.stdout

    stored = httpx.get(f"{server.url}/api/tunix/runs/{run['run_id']}", timeout=10).json()
    assert stored["name"] == "[bold]fixed[/bold] lr" and stored["tags"] == ["best", "new"]
    assert stored["notes"] == "Loss spikes at step 40.\nSee [link] for details.\n"

    shown = run_cli(server.url, "runs", "show", short)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any(line.startswith("name") and "[bold]fixed[/bold] lr" in line for line in lines)
    assert any(line.startswith("tags") and "best, new" in line for line in lines)
    assert "See [link] for details." in shown.stdout

    cleared = cli_json(server, "runs", "edit", short, "--name", "", "--notes", "")
    assert cleared["name"] is None and cleared["notes"] == "" and cleared["tags"] == ["best", "new"]


def test_edit_errors_are_one_line_and_exit_1(server: Server, dataset: str, tmp_path: Path) -> None:
    run = cli_json(server, "runs", "submit", "-d", dataset, "--steps", "2")
    run_id = run["run_id"]
    cases: list[tuple[tuple[str, ...], str]] = [
        ((), "nothing to change"),
        (("--tag", "has space"), "letters, digits"),
        (("--tag", "x", "--untag", "x"), "both added and removed"),
        (("--notes", "a", "--notes-file", str(tmp_path / "n.txt")), "not both"),
        (("--notes-file", str(tmp_path / "missing.txt")), "cannot read --notes-file"),
        (("--name", "x" * 201), "at most 200 characters"),
    ]
    for args, message in cases:
        done = run_cli(server.url, "runs", "edit", run_id, *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    done = run_cli(
        server.url, "runs", "edit", "00000000-0000-4000-8000-000000000000", "--name", "x"
    )
    assert done.returncode == 1 and "not found" in done.stderr
    done = run_cli(server.url, "runs", "submit", "-d", dataset, "--tag", "a/b")
    assert done.returncode == 1 and "letters, digits" in done.stderr
    after = httpx.get(f"{server.url}/api/tunix/runs/{run_id}", timeout=10).json()
    assert after["name"] is None and after["tags"] == [] and after["notes"] == ""
