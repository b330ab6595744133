"""`tunix-rt demo`: the newcomer's first run, end to end, over the HTTP API.

Generates high-card-duel and multiplication traces, freezes the duel traces into the dataset
`demo-duel-v1` (10% held out, ~2,250 for training: with 1,000 traces the tiny model reached
only 88%, missing most ties), trains the tiny model on it (300 steps, batch 16: one to three
minutes on two CPU cores) and follows the run to its eval summary.

Idempotent: the dataset key is fixed, so a second `demo` reuses `demo-duel-v1` (datasets are
immutable, so reusing is exact) and only submits a new training run. Traces are generated
only when the home does not already hold enough generated duel traces.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from tunix_rt.cli import follow
from tunix_rt.cli.client import ApiError, Client
from tunix_rt.cli.output import command, console, err_console

DATASET_NAME = "demo-duel"
DATASET_VERSION = "v1"
DATASET_KEY = f"{DATASET_NAME}-{DATASET_VERSION}"
DUEL_TRACES = 2500
MULTIPLICATION_TRACES = 300
HOLDOUT_FRACTION = 0.1
SEED = 0
DEMO_STEPS = 300
DEMO_BATCH_SIZE = 16
DUEL_SOURCE = "generator:high_card_duel"


def register(app: typer.Typer) -> None:
    """Add the `demo` command to the root app."""
    app.command("demo")(demo)


@command
def demo(
    steps: int = typer.Option(DEMO_STEPS, "--steps", min=1, help="Training steps."),
    batch_size: int = typer.Option(DEMO_BATCH_SIZE, "--batch-size", min=1),
    follow_run: bool = typer.Option(True, "--follow/--no-follow", help="Follow the run."),
    server: str | None = typer.Option(
        None, "--server", envvar="TUNIX_RT_SERVER", help="Server URL."
    ),
) -> None:
    """Generate demo traces, build a dataset, train the tiny model and follow it."""
    with Client(server) as client:
        code = run_demo(
            client,
            steps=steps,
            batch_size=batch_size,
            follow_run=follow_run,
            out=console,
            notice=err_console,
        )
    raise typer.Exit(code)


def run_demo(
    client: Client,
    *,
    steps: int = DEMO_STEPS,
    batch_size: int = DEMO_BATCH_SIZE,
    follow_run: bool = True,
    out: Console,
    notice: Console,
) -> int:
    """The demo flow against a running server; returns the exit code."""
    client.get_json("/api/health")
    dataset = ensure_dataset(client, out)
    run = client.post_json(
        "/api/tunix/run",
        {
            "dataset_key": dataset["dataset_key"],
            "model_id": "tiny",
            "max_steps": steps,
            "batch_size": batch_size,
        },
        params={"mode": "async"},
    )
    run_id = str(run["run_id"])
    page_url = f"{client.base}/runs/{run_id}"
    out.print(
        f"[bold]3/3[/bold] training the tiny model on {dataset['dataset_key']} "
        f"({steps} steps, batch {batch_size}): run {run_id}",
        highlight=False,
        soft_wrap=True,
    )
    out.print(f"    watch it live in the UI: {page_url}", highlight=False, soft_wrap=True)
    if not follow_run:
        out.print(
            f"    follow it here: tunix-rt runs logs {run_id} -f", highlight=False, soft_wrap=True
        )
        return 0
    status = follow.follow_run(client, run_id, console=out, notice=notice)
    code = follow.report_outcome(client, run_id, status, out, notice)
    out.print(f"\nthe run page: [bold]{page_url}[/bold]", highlight=False, soft_wrap=True)
    out.print(
        "next: tunix-rt runs artifacts "
        f"{run_id}  ·  tunix-rt runs submit --dataset {dataset['dataset_key']} --steps 600 -f",
        highlight=False,
        soft_wrap=True,
    )
    return code


def ensure_dataset(client: Client, out: Console) -> dict[str, Any]:
    """Return the demo dataset, generating traces and building it when it does not exist."""
    try:
        existing: dict[str, Any] = client.get_json(f"/api/datasets/{DATASET_KEY}")
    except ApiError as exc:
        if exc.status_code != 404:
            raise
    else:
        out.print(
            f"[bold]1/3[/bold] traces: reusing the existing demo data ({existing['trace_count']} "
            f"traces in {DATASET_KEY})",
            highlight=False,
            soft_wrap=True,
        )
        out.print(
            f"[bold]2/3[/bold] dataset: reusing {DATASET_KEY}", highlight=False, soft_wrap=True
        )
        return existing
    ensure_traces(client, out)
    try:
        manifest: dict[str, Any] = client.post_json(
            "/api/datasets/build",
            {
                "dataset_name": DATASET_NAME,
                "dataset_version": DATASET_VERSION,
                "filters": {"source": DUEL_SOURCE},
                "limit": DUEL_TRACES,
                "selection_strategy": "latest",
                "seed": SEED,
                "holdout_fraction": HOLDOUT_FRACTION,
            },
        )
    except ApiError as exc:
        if exc.status_code != 409:
            raise
        # Another demo built it between our lookup and our build: use theirs.
        manifest = client.get_json(f"/api/datasets/{DATASET_KEY}")
    out.print(
        f"[bold]2/3[/bold] dataset: built {manifest['dataset_key']} "
        f"({manifest['train_count']} train / {manifest['holdout_count']} held out)",
        highlight=False,
        soft_wrap=True,
    )
    return manifest


def ensure_traces(client: Client, out: Console) -> None:
    have = client.post_json(
        "/api/datasets/preview", {"filters": {"source": DUEL_SOURCE}, "limit": DUEL_TRACES}
    )["trace_count"]
    if have >= DUEL_TRACES:
        out.print(
            f"[bold]1/3[/bold] traces: {have} generated duel traces already stored",
            highlight=False,
            soft_wrap=True,
        )
        return
    duel = client.post_json(
        "/api/traces/generate", {"task": "high_card_duel", "count": DUEL_TRACES, "seed": SEED}
    )
    mult = client.post_json(
        "/api/traces/generate",
        {"task": "multiplication", "count": MULTIPLICATION_TRACES, "seed": SEED},
    )
    out.print(
        f"[bold]1/3[/bold] traces: generated {duel['created']} high-card-duel and "
        f"{mult['created']} multiplication traces",
        highlight=False,
        soft_wrap=True,
    )
