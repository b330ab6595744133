"""The traces and datasets CLI against a real server (uvicorn in a thread), both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.integration.test_api_fuzz import ServerThread
from tests.integration.test_traces_api import make_payload
from tunix_rt.cli import output
from tunix_rt.cli.app import app
from tunix_rt.settings import Settings

runner = CliRunner()


@pytest.fixture
def server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(output.console, "width", 200)  # tables not squeezed to 80 columns
    with ServerThread(settings) as url:
        yield url


def cli(server: str, *args: str, env: dict[str, str] | None = None) -> Any:
    result = runner.invoke(app, [*args, "--server", server], env=env or {})
    return result


def cli_json(server: str, *args: str) -> Any:
    result = cli(server, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_generate_list_show(server: str) -> None:
    out = cli_json(server, "traces", "generate", "--task", "multiplication", "--count", "12")
    assert out == {"created": 12, "task": "multiplication", "seed": 0}
    page = cli_json(server, "traces", "list", "--limit", "10")
    assert len(page["data"]) == 10
    assert page["pagination"]["next_offset"] == 10
    trace = cli_json(server, "traces", "show", page["data"][0]["id"])
    assert trace["payload"]["meta"]["task"] == "multiplication"
    table = cli(server, "traces", "list", "--task", "multiplication")
    assert table.exit_code == 0
    assert "generator:multiplication" in table.stdout
    shown = cli(server, "traces", "show", page["data"][0]["id"])
    assert "answer:" in shown.stdout
    bad = cli(server, "traces", "show", "nope")
    assert bad.exit_code == 1
    assert "not a trace id" in bad.output


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_import_streams_batches_and_reports_bad_line(server: str, tmp_path: Path) -> None:
    good = [json.dumps(make_payload(n)) for n in range(12)]
    path = write_jsonl(tmp_path / "good.jsonl", [*good[:6], "", *good[6:]])
    out = cli_json(server, "traces", "import", str(path), "--batch-size", "5")
    assert out["imported"] == 12

    lines = [json.dumps(make_payload(n)) for n in range(12)]
    lines[7] = '{"trace_version": "1", "prompt": '  # line 8 is cut off
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    result = cli(server, "traces", "import", str(path), "--batch-size", "5")
    assert result.exit_code == 1
    assert "lines 1-5 imported" in result.output
    assert "line 8" in result.output
    # Lines 6-7 shared a batch with line 8: none of it was written.
    assert len(cli_json(server, "traces", "list", "--limit", "100")["data"]) == 12 + 5

    lines = [json.dumps(make_payload(n)) for n in range(3)]
    lines[1] = json.dumps({**make_payload(1), "colour": "red"})
    result = cli(server, "traces", "import", str(write_jsonl(tmp_path / "k.jsonl", lines)))
    assert result.exit_code == 1
    assert "nothing was imported" in result.output
    assert "line 2" in result.output
    assert "colour" in result.output


def test_dataset_build_list_show_export(server: str, tmp_path: Path) -> None:
    cli_json(server, "traces", "generate", "--task", "high_card_duel", "--count", "40")
    manifest = cli_json(
        server, "datasets", "build", "--name", "duel", "--version", "v1",
        "--task", "high_card_duel", "--holdout", "0.2", "--strategy", "random", "--seed", "3",
    )  # fmt: skip
    assert manifest["dataset_key"] == "duel-v1"
    assert manifest["trace_count"] == 40
    listed = cli_json(server, "datasets", "list")
    assert [d["dataset_key"] for d in listed["data"]] == ["duel-v1"]
    assert cli_json(server, "datasets", "show", "duel-v1") == manifest
    out = tmp_path / "train.jsonl"
    result = cli(server, "datasets", "export", "duel-v1", "--split", "train", "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == manifest["train_count"]
    assert rows[0]["prompts"].startswith("<start_of_turn>user\nPlayer A draws")
    again = cli(server, "datasets", "build", "--name", "duel", "--version", "v1")
    assert again.exit_code == 1
    assert "already exists" in again.output
    missing = cli(server, "datasets", "export", "nope-v1")
    assert missing.exit_code == 1
    assert "404" in missing.output


def test_cli_honours_api_token(settings: Settings) -> None:
    with ServerThread(settings.model_copy(update={"api_token": "s3cret"})) as url:
        denied = cli(url, "traces", "list")
        assert denied.exit_code == 1
        assert "401" in denied.output
        ok = cli(url, "traces", "list", "--json", env={"TUNIX_RT_API_TOKEN": "s3cret"})
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.stdout)["data"] == []
