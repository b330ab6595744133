"""`tunix-rt runs sample RUN "prompt" ...`: completions from a checkpoint of a run."""

from __future__ import annotations

from typing import Any

import typer

from tunix_rt.cli.client import Client
from tunix_rt.cli.output import command, console, err_console, fail, print_json
from tunix_rt.cli.run_ids import resolve_run_id
from tunix_rt.cli.runs_submit import JSON_OPTION, SERVER_OPTION

# The server's own deadline (TUNIX_RT_GENERATE_TIMEOUT_S, 300 s by default) ends a call
# first; this only keeps the CLI from waiting forever on a server that never answers.
SAMPLE_HTTP_TIMEOUT_S = 1800.0


def parse_checkpoint(value: str) -> str | int:
    if value not in ("latest", "best") and not value.isdigit():
        fail(f"--checkpoint must be latest, best or a step, not {value!r}", 2)
    return int(value) if value.isdigit() else value


def render(result: dict[str, Any]) -> None:
    completions = result["completions"]
    for index, completion in enumerate(completions):
        if len(completions) > 1:
            console.print(
                f"[bold]prompt {index + 1}:[/bold] {completion['prompt']}", highlight=False
            )
        console.print(completion["text"], highlight=False, markup=False)
        answer = completion.get("answer")
        console.print(
            f"[dim]answer:[/dim] {answer if answer is not None else '(none extracted)'}",
            highlight=False,
        )
        if index < len(completions) - 1:
            console.print()
    err_console.print(
        f"checkpoint step {result['step']}, temperature {result['temperature']:g}, "
        f"{result['wall_s']:.1f}s (model load {result['load_s']:.1f}s)",
        highlight=False,
        style="dim",
    )


@command
def sample(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix of it."),
    prompts: list[str] = typer.Argument(
        ..., help="One or more prompts (the chat template is added)."
    ),
    checkpoint: str = typer.Option("latest", "--checkpoint", "-c", help="latest, best or a step."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", min=1, help="Tokens to generate."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 is greedy."),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Sampling seed (temperature > 0)."),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Generate completions from a checkpoint of a run (its own tokenizer and chat template)."""
    if any(not p.strip() for p in prompts):
        fail("prompts must not be blank", 2)
    body: dict[str, Any] = {
        "prompts": prompts,
        "checkpoint": parse_checkpoint(checkpoint),
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
    }
    if seed is not None:
        body["seed"] = seed
    with Client(server, timeout_s=SAMPLE_HTTP_TIMEOUT_S) as client:
        run_id = resolve_run_id(client, run_id)
        with err_console.status(f"generating from run {run_id[:8]} (loads the model)"):
            result: dict[str, Any] = client.post_json(f"/api/tunix/runs/{run_id}/generate", body)
    if as_json:
        print_json(result)
        return
    render(result)
