"""`tunix-rt runs rollouts RUN`: a GRPO run's sampled completions at a step, with rewards."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from tunix_rt.cli.client import Client
from tunix_rt.cli.output import command, console, fail, print_json
from tunix_rt.cli.run_ids import resolve_run_id
from tunix_rt.cli.runs_submit import JSON_OPTION, SERVER_OPTION
from tunix_rt.cli.table import Column, print_table

FILTERS = ("all", "format_right_answer_wrong", "correct", "wrong")
COMPLETION_CHARS = 60
COLUMNS = [
    Column("prompt", justify="right"),
    Column("gen", justify="right"),
    Column("correct"),
    Column("format"),
    Column("reward", justify="right"),
    Column("advantage", justify="right"),
    Column("answer", fold=2),
    Column("completion", fold=1),
]


def one_line(text: str | None, limit: int = COMPLETION_CHARS) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def rows_of(items: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            str(item["prompt_index"]),
            str(item["generation"]),
            "[green]yes[/green]" if item["correct"] else "[red]no[/red]",
            "ok" if item["format_ok"] else "bad",
            f"{item['reward']:.3f}",
            f"{item['advantage']:+.3f}",
            escape(one_line(item["answer"], 20)) or "-",
            escape(one_line(item["completion"])) or "-",
        ]
        for item in items
    ]


@command
def rollouts(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix of it."),
    step: int | None = typer.Option(None, "--step", min=0, help="Default: the latest step."),
    filter_name: str = typer.Option(
        "all", "--filter", help="all, format_right_answer_wrong, correct or wrong."
    ),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    offset: int = typer.Option(0, "--offset", min=0),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show the completions a GRPO run sampled at a step, with rewards and advantages."""
    if filter_name not in FILTERS:
        fail(f"--filter must be one of {', '.join(FILTERS)}, not {filter_name!r}", 2)
    params: dict[str, Any] = {"filter": filter_name, "limit": limit, "offset": offset}
    if step is not None:
        params["step"] = step
    with Client(server) as client:
        run_id = resolve_run_id(client, run_id)
        page: dict[str, Any] = client.get_json(f"/api/tunix/runs/{run_id}/rollouts", params=params)
    if as_json:
        print_json(page)
        return
    if not page["steps"]:
        console.print(f"run {run_id} has no rollouts (yet)", highlight=False)
        return
    steps = ", ".join(str(s) for s in page["steps"])
    console.print(
        f"step {page['step']} ({filter_name}): {page['total']} completions; "
        f"steps with rollouts: {steps}",
        highlight=False,
    )
    if page["items"]:
        print_table(console, COLUMNS, rows_of(page["items"]))
