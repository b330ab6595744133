"""`tunix-rt runs submit --dtype --mesh DATAxMODEL`: the request body the server receives."""

from __future__ import annotations

import pytest
import typer

from tunix_rt.cli.runs_submit import build_request, parse_mesh


def test_mesh_text_becomes_data_and_model_axes() -> None:
    assert parse_mesh("2x2") == {"data": 2, "model": 2}
    assert parse_mesh(" 4X1 ") == {"data": 4, "model": 1}
    assert parse_mesh(None) is None
    body = build_request(
        dataset="duel-v1",
        model="tiny",
        model_id=None,
        dry_run=False,
        hyperparameters={"dtype": "bfloat16", "mesh": parse_mesh("1x4"), "seed": None},
    )
    assert body["dtype"] == "bfloat16"
    assert body["mesh"] == {"data": 1, "model": 4}
    assert "seed" not in body


@pytest.mark.parametrize("text", ["2", "2x", "axb", "2x2x2", "-1x2"])
def test_malformed_mesh_is_refused_before_sending(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as caught:
        parse_mesh(text)
    assert caught.value.exit_code == 1
    assert "--mesh must be DATAxMODEL" in capsys.readouterr().err
