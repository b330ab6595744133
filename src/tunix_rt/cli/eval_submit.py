"""`tunix-rt eval run RUN` and `tunix-rt eval cancel ID`: evaluation jobs over the HTTP API.

`eval run` queues an evaluation of a checkpoint of a run (latest, best or a step) on a
dataset split; with --follow it streams the job's log and prints the record when it ends.
Exit codes: 0 submitted (or, with --follow, completed), 1 refused or failed.
"""

from __future__ import annotations

from typing import Any

import typer

from tunix_rt.cli import eval_views, follow
from tunix_rt.cli.client import ApiError, Client
from tunix_rt.cli.output import command, console, err_console, print_json
from tunix_rt.cli.run_ids import resolve_run_id

SERVER_OPTION = typer.Option(None, "--server", help="Server URL (default $TUNIX_RT_SERVER).")
SPLITS = ("holdout", "train", "all")


def parse_checkpoint(value: str) -> str | int:
    value = value.strip().lower()
    if value in ("latest", "best"):
        return value
    if value.isdigit():
        return int(value)
    raise ApiError(f"--checkpoint must be latest, best or a step number, not {value!r}")


@command
def run(
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run id or short id."),
    checkpoint: str = typer.Option("latest", "--checkpoint", "-c", help="latest, best or STEP."),
    dataset: str | None = typer.Option(
        None, "--dataset", "-d", help="Dataset key (default: the run's)."
    ),
    split: str = typer.Option("holdout", "--split", help="holdout, train or all."),
    max_examples: int = typer.Option(200, "--max-examples", min=1, max=100_000),
    max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", min=1, max=4096),
    follow_job: bool = typer.Option(False, "--follow", "-f", help="Stream the job to its end."),
    server: str | None = SERVER_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Evaluate a checkpoint of a run on a dataset split (a job on the run queue)."""
    if split not in SPLITS:
        raise ApiError(f"--split must be one of {', '.join(SPLITS)}, not {split!r}")
    body: dict[str, Any] = {
        "checkpoint": parse_checkpoint(checkpoint),
        "split": split,
        "max_examples": max_examples,
    }
    if dataset is not None:
        body["dataset_key"] = dataset
    if max_new_tokens is not None:
        body["max_new_tokens"] = max_new_tokens
    with Client(server) as client:
        body["run_id"] = resolve_run_id(client, run_ref)
        submitted = client.post_json("/api/evaluations", body)
        evaluation_id, job_id = str(submitted["evaluation_id"]), str(submitted["job_id"])
        if not follow_job:
            if as_json:
                print_json(submitted)
                return
            console.print(
                f"submitted evaluation [bold]{evaluation_id}[/bold] of step {submitted['step']} "
                f"(job {job_id[:8]}, {submitted['status']})",
                soft_wrap=True,
            )
            console.print(
                f"follow it with: tunix-rt runs logs {job_id[:8]} -f; "
                f"then: tunix-rt eval show {evaluation_id[:8]}",
                highlight=False,
                soft_wrap=True,
            )
            return
        out = err_console if as_json else console
        follow.follow_run(client, job_id, console=out, notice=err_console, show_progress=False)
        record = client.get_json(f"/api/evaluations/{evaluation_id}")
    if as_json:
        print_json(record)
    else:
        eval_views._print_record(record)
    if record["status"] != "completed":
        job = record.get("job_id")
        err_console.print(
            f"[red]evaluation {evaluation_id} {record['status']}[/red]; see its job's log: "
            f"tunix-rt runs logs {str(job)[:8]}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


@command
def cancel(
    evaluation: str = eval_views.EVALUATION_ARG,
    server: str | None = SERVER_OPTION,
) -> None:
    """Cancel a queued or running evaluation."""
    with Client(server) as client:
        evaluation_id = eval_views.resolve_evaluation_id(client, evaluation)
        record = client.post_json(f"/api/evaluations/{evaluation_id}/cancel")
    console.print(f"evaluation {evaluation_id}: {record['status']}", highlight=False)
