"""`runs show` formats eval summary values by what their names say, never by value range."""

from __future__ import annotations

import io

from rich.console import Console

from tunix_rt.cli import runs_render


def render_summary(summary: dict[str, object]) -> list[str]:
    out = io.StringIO()
    runs_render.print_eval_summary(Console(file=out, width=80, color_system=None), summary)
    return [" ".join(line.split()) for line in out.getvalue().splitlines()]


def test_only_fraction_fields_print_as_percentages() -> None:
    lines = render_summary(
        {
            "exact_match": 0.95,
            "format_ok": 1.0,
            "n": 200,
            "by_task": {"addition": {"n": 100, "exact_match": 0.5, "format_ok": 1.0}},
            "step": 1,
            "max_new_tokens": 128,
            "wall_s": 0.635,
            "temperature": 0.7,
            "pass_rate": 0.25,
        }
    )
    assert "exact_match 95.0%" in lines
    assert "format_ok 100.0%" in lines
    assert "pass_rate 25.0%" in lines
    assert "by_task · addition 50.0% (n=100)" in lines
    assert "wall_s 0.6s" in lines  # a duration, not "63.5%"
    assert "temperature 0.7" in lines
    assert "step 1" in lines and "n 200" in lines
    assert not any("63.5%" in line or "70.0%" in line for line in lines), lines


def test_format_metric_by_name() -> None:
    assert runs_render.format_metric("accuracy", 1) == "100.0%"
    assert runs_render.format_metric("eval_s", 75.0) == "1m15s"
    assert runs_render.format_metric("loss", 0.25) == "0.25"
    assert runs_render.format_metric("format_ok", True) == "True"
    assert runs_render.format_metric("note", "no held-out examples") == "no held-out examples"
