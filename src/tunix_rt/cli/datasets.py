"""`tunix-rt datasets`: build, list, show, export (over the HTTP API)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from tunix_rt.cli.client import ApiError, Client, describe_error
from tunix_rt.cli.output import command, console, print_json
from tunix_rt.cli.table import Column, print_table

app = typer.Typer(
    help="Frozen, versioned datasets: build, list, show, export.", no_args_is_help=True
)

SERVER_OPTION = typer.Option(None, "--server", help="Server URL (default $TUNIX_RT_SERVER).")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of tables.")
BUILD_TIMEOUT_S = 600.0
MANIFEST_FIELDS = (
    "dataset_key",
    "trace_count",
    "train_count",
    "holdout_count",
    "selection_strategy",
    "seed",
    "limit",
    "holdout_fraction",
    "content_hash",
    "duplicates_dropped",
    "created_at",
)


DATASET_COLUMNS = (
    Column("KEY"),
    Column("TRACES", justify="right"),
    Column("TRAIN", justify="right"),
    Column("HOLDOUT", justify="right"),
    Column("STRATEGY", fold=2),
    Column("HASH", fold=3),
    Column("CREATED", fold=1),
)


def print_manifest(manifest: dict[str, Any]) -> None:
    table = Table(show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")  # a long hash or key wraps instead of being cut
    for key in MANIFEST_FIELDS:
        table.add_row(key, str(manifest.get(key)))
    table.add_row("filters", str({k: v for k, v in manifest["filters"].items() if v is not None}))
    console.print(table)


@app.command("build")
@command
def build_dataset(
    name: str = typer.Option(..., "--name", help="Dataset name."),
    version: str = typer.Option(..., "--version", help="Dataset version (key = NAME-VERSION)."),
    source: str | None = typer.Option(None, "--source", help="Only traces with this source."),
    task: str | None = typer.Option(None, "--task", help="Only traces with this task."),
    min_score: float | None = typer.Option(None, "--min-score", help="Minimum latest score."),
    criteria: str = typer.Option("baseline", "--criteria", help="Score criteria for filters."),
    created_after: str | None = typer.Option(None, "--created-after", help="ISO time."),
    created_before: str | None = typer.Option(None, "--created-before", help="ISO time."),
    limit: int | None = typer.Option(None, "--limit", min=1),
    strategy: str = typer.Option("latest", "--strategy", help="latest | random | top_score"),
    seed: int = typer.Option(0, "--seed", min=0),
    holdout: float = typer.Option(0.0, "--holdout", min=0.0, max=0.5, help="Holdout fraction."),
    dedupe_prompts: bool = typer.Option(
        True,
        "--dedupe-prompts/--keep-duplicate-prompts",
        help="Keep one trace per prompt (default) or keep repeated prompts.",
    ),
    include_model_outputs: bool = typer.Option(
        False,
        "--include-model-outputs",
        help="Also select model outputs (traces stored from runs' evaluations).",
    ),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Freeze a selection of traces into an immutable dataset."""
    filters = {
        "source": source,
        "task": task,
        "min_score": min_score,
        "criteria": criteria,
        "created_after": created_after,
        "created_before": created_before,
        "include_model_outputs": include_model_outputs or None,
    }
    body = {
        "dataset_name": name,
        "dataset_version": version,
        "filters": {k: v for k, v in filters.items() if v is not None},
        "limit": limit,
        "selection_strategy": strategy,
        "seed": seed,
        "holdout_fraction": holdout,
        "dedupe_prompts": dedupe_prompts,
    }
    with Client(server, timeout_s=BUILD_TIMEOUT_S) as client:
        manifest = client.post_json("/api/datasets/build", body)
    if as_json:
        print_json(manifest)
        return
    console.print(f"built dataset {manifest['dataset_key']}")
    print_manifest(manifest)


@app.command("list")
@command
def list_datasets(
    limit: int = typer.Option(20, "--limit", min=1, max=100),
    offset: int = typer.Option(0, "--offset", min=0),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List datasets, newest first."""
    with Client(server) as client:
        page = client.get_json("/api/datasets", params={"limit": limit, "offset": offset})
    if as_json:
        print_json(page)
        return
    if not page["data"]:
        console.print("no datasets")
        return
    rows = [
        [
            escape(m["dataset_key"]),
            str(m["trace_count"]),
            str(m["train_count"]),
            str(m["holdout_count"]),
            m["selection_strategy"],
            m["content_hash"][:12],
            m["created_at"][:19].replace("T", " "),
        ]
        for m in page["data"]
    ]
    print_table(console, DATASET_COLUMNS, rows)


@app.command("show")
@command
def show_dataset(
    key: str = typer.Argument(..., help="Dataset key (NAME-VERSION)."),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a dataset manifest."""
    with Client(server) as client:
        manifest = client.get_json(f"/api/datasets/{key}")
    if as_json:
        print_json(manifest)
        return
    print_manifest(manifest)


@app.command("export")
@command
def export_dataset(
    key: str = typer.Argument(..., help="Dataset key (NAME-VERSION)."),
    fmt: str = typer.Option(
        "tunix_sft", "--format", help="trace | tunix_sft | training_example | chat"
    ),
    split: str = typer.Option("all", "--split", help="train | holdout | all"),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default stdout)."),
    server: str | None = SERVER_OPTION,
) -> None:
    """Stream a dataset as JSONL to a file or stdout."""
    params = {"format": fmt, "split": split}
    written = 0
    with Client(server, timeout_s=BUILD_TIMEOUT_S) as client:
        try:
            written = stream_export(client, key, params, output)
        except httpx.HTTPError as exc:
            raise ApiError(f"export from {client.base} failed: {exc}") from exc
    if output:
        console.print(f"wrote {written} bytes to {output}")


def stream_export(client: Client, key: str, params: dict[str, str], output: Path | None) -> int:
    written = 0
    with client.http.stream("GET", f"/api/datasets/{key}/export.jsonl", params=params) as resp:
        if resp.status_code >= 400:
            resp.read()
            raise ApiError(describe_error(resp), resp.status_code)
        target = output.open("wb") if output else sys.stdout.buffer
        try:
            for chunk in resp.iter_bytes():
                target.write(chunk)
                written += len(chunk)
        finally:
            if output:
                target.close()
            else:
                target.flush()
    return written
