"""`tunix-rt runs submit --model DIR`: --model-id is needed only without a config.json."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from tunix_rt.cli.runs_submit import build_request


def request_for(model: Path, model_id: str | None) -> dict[str, object]:
    return build_request(
        dataset="duel-v1", model=str(model), model_id=model_id, dry_run=False, hyperparameters={}
    )


def test_directory_with_config_json_needs_no_model_id(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    body = request_for(tmp_path, None)
    assert body["model_path"] == str(tmp_path.resolve())
    assert "model_id" not in body
    assert request_for(tmp_path, "qwen3-0.6b")["model_id"] == "qwen3-0.6b"


def test_directory_without_config_json_needs_model_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as caught:
        request_for(tmp_path, None)
    assert caught.value.exit_code == 1
    assert "--model-id" in capsys.readouterr().err
    assert request_for(tmp_path, "gemma3-270m")["model_id"] == "gemma3-270m"
