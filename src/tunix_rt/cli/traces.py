"""`tunix-rt traces`: generate, import, list, show (over the HTTP API)."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import typer
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tunix_rt import errors
from tunix_rt.cli.client import ApiError, Client
from tunix_rt.cli.output import command, console, err_console, fail, print_json
from tunix_rt.traces import jsonl

app = typer.Typer(help="Reasoning traces: generate, import, list, show.", no_args_is_help=True)

SERVER_OPTION = typer.Option(None, "--server", help="Server URL (default $TUNIX_RT_SERVER).")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of tables.")
GENERATE_TIMEOUT_S = 600.0
IMPORT_BATCH_SIZE = 5_000


class ImportProgress:
    """What has been committed so far, for the message when an import stops early."""

    def __init__(self) -> None:
        self.imported = 0
        self.first_line: int | None = None
        self.last_line: int | None = None

    def record(self, batch: jsonl.LineBatch, created: int) -> None:
        self.imported += created
        if self.first_line is None:
            self.first_line = batch.first_line
        self.last_line = batch.last_line

    def describe(self) -> str:
        if self.first_line is None:
            return "nothing was imported"
        return f"lines {self.first_line}-{self.last_line} imported, the rest was not"


def send_batch(client: Client, batch: jsonl.LineBatch) -> int:
    try:
        response = client.request(
            "POST",
            "/api/traces/batch",
            content=batch.json_array(),
            headers={"content-type": "application/json"},
        )
    except ApiError as exc:
        # Map the server's per-item errors back to file line numbers.
        items = exc.body.get("errors") if isinstance(exc.body, dict) else None
        if items and isinstance(items[0], dict) and "index" in items[0]:
            first = items[0]
            line_no = batch.line_numbers[int(first["index"])]
            raise jsonl.JsonlError(line_no, f"{first['field']}: {first['message']}") from exc
        raise
    return int(response.json()["created"])


def import_file(client: Client, path: Path, *, batch_size: int, quiet: bool) -> dict[str, Any]:
    """Send the file in validated batches; on a bad line, stop and say what was kept.

    Pipelined: batch N is sent (in a worker thread) while batch N+1 is read and validated.
    Batches still go one at a time and in order, so "lines 1-K imported" stays exact.
    """
    done = ImportProgress()
    columns = (
        TextColumn("importing"),
        BarColumn(),
        TextColumn("{task.fields[n]} traces"),
        TimeRemainingColumn(),
    )
    in_flight: tuple[Future[int], jsonl.LineBatch] | None = None

    def finish_in_flight() -> None:
        nonlocal in_flight
        if in_flight is not None:
            future, sent = in_flight
            in_flight = None
            done.record(sent, future.result())
            progress.update(task, completed=sent.end_offset, n=done.imported)

    with (
        Progress(*columns, console=err_console, disable=quiet, transient=True) as progress,
        ThreadPoolExecutor(max_workers=1) as sender,
    ):
        task = progress.add_task("import", total=path.stat().st_size, n=0)
        try:
            try:
                for batch in jsonl.iter_file_batches(path, batch_size):
                    finish_in_flight()
                    in_flight = (sender.submit(send_batch, client, batch), batch)
            finally:
                finish_in_flight()  # an earlier batch's outcome comes first in the message
        except jsonl.JsonlError as exc:
            raise errors.ValidationFailed(f"{done.describe()}; {exc}") from exc
        except ApiError as exc:
            raise ApiError(f"{done.describe()}; {exc.message}") from exc
    return {"imported": done.imported, "path": str(path)}


@app.command("generate")
@command
def generate_traces(
    task: str = typer.Option(..., "--task", help="high_card_duel | addition | multiplication"),
    count: int = typer.Option(100, "--count", min=1, max=100_000),
    seed: int = typer.Option(0, "--seed", min=0),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Generate COUNT traces of a built-in TASK on the server (deterministic by seed)."""
    with Client(server, timeout_s=GENERATE_TIMEOUT_S) as client:
        body = {"task": task, "count": count, "seed": seed}
        result = client.post_json("/api/traces/generate", body)
    if as_json:
        print_json(result)
        return
    console.print(f"generated {result['created']} {result['task']} traces (seed {result['seed']})")


@app.command("import")
@command
def import_traces(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="A JSONL file."),
    batch_size: int = typer.Option(IMPORT_BATCH_SIZE, "--batch-size", min=1, max=10_000),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Import a JSONL file of trace payloads in batches (a bad line stops the import)."""
    with Client(server, timeout_s=GENERATE_TIMEOUT_S) as client:
        result = import_file(client, path, batch_size=batch_size, quiet=as_json)
    if as_json:
        print_json(result)
        return
    console.print(f"imported {result['imported']} traces from {path}")


@app.command("list")
@command
def list_traces(
    limit: int = typer.Option(20, "--limit", min=1, max=100),
    offset: int = typer.Option(0, "--offset", min=0),
    source: str | None = typer.Option(None, "--source", help="Only traces with this meta.source."),
    task: str | None = typer.Option(None, "--task", help="Only traces with this meta.task."),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List traces, newest first."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    params.update({k: v for k, v in (("source", source), ("task", task)) if v})
    with Client(server) as client:
        page = client.get_json("/api/traces", params=params)
    if as_json:
        print_json(page)
        return
    if not page["data"]:
        console.print("no traces")
        return
    table = Table("id", "created", "source", "task", "steps", "prompt", "answer", "score")
    for row in page["data"]:
        score = row["score"]
        table.add_row(
            row["id"],
            row["created_at"][:19],
            row["source"] or "",
            row["task"] or "",
            str(row["step_count"]),
            row["prompt_preview"][:60],
            row["final_answer_preview"][:20],
            "" if score is None else f"{score:.1f}",
        )
    console.print(table)
    next_offset = page["pagination"]["next_offset"]
    if next_offset is not None:
        console.print(f"[dim]more: --offset {next_offset}[/dim]")


@app.command("show")
@command
def show_trace(
    trace_id: str = typer.Argument(..., help="Trace id (UUID)."),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one trace: prompt, steps, answer, scores."""
    try:
        trace_id = str(uuid.UUID(trace_id))
    except ValueError:
        fail(f"not a trace id: {trace_id!r} (expected a UUID, see `tunix-rt traces list`)")
    with Client(server) as client:
        trace = client.get_json(f"/api/traces/{trace_id}")
    if as_json:
        print_json(trace)
        return
    payload = trace["payload"]
    console.print(Panel(payload["prompt"], title=f"trace {trace['id']}", subtitle="prompt"))
    for step in sorted(payload["steps"], key=lambda s: s["i"]):
        console.print(
            f"  {step['i']}. [dim]{step['type']}[/dim] {step['content']}", highlight=False
        )
    console.print(f"answer: [bold]{payload['final_answer']}[/bold]", highlight=False)
    if payload["meta"]:
        console.print(f"meta: {json.dumps(payload['meta'])}", highlight=False)
    for score in trace["scores"]:
        console.print(
            f"score {score['criteria']}: {score['score']:.2f} ({score['created_at'][:19]})"
        )
