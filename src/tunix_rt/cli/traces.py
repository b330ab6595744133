"""`tunix-rt traces`: generate, import, list, show (over the HTTP API)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from tunix_rt import errors
from tunix_rt.cli.client import ApiError, Client
from tunix_rt.cli.output import command, console, err_console, fail, print_json
from tunix_rt.cli.table import Column, print_table
from tunix_rt.traces import jsonl

app = typer.Typer(help="Reasoning traces: generate, import, list, show.", no_args_is_help=True)

SERVER_OPTION = typer.Option(None, "--server", help="Server URL (default $TUNIX_RT_SERVER).")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of tables.")
GENERATE_TIMEOUT_S = 600.0
IMPORT_BATCH_SIZE = 5_000
TRACE_COLUMNS = (
    Column("ID"),
    Column("TASK"),
    Column("SCORE", justify="right"),
    Column("STEPS", fold=1, justify="right"),
    Column("CREATED", fold=2),
    Column("ANSWER", fold=3),
    Column("PROMPT", fold=4),
    Column("SOURCE", fold=5),
)


class ImportProgress:
    """What has been committed so far, for the message when an import stops early."""

    def __init__(self, first_line: int) -> None:
        self.imported = 0
        self.first_line = first_line
        self.last_line: int | None = None

    def record(self, batch: jsonl.LineBatch, created: int) -> None:
        self.imported += created
        self.last_line = batch.last_line

    def describe_stop(
        self, stopped_at: int, reason: str, unconfirmed: jsonl.LineBatch | None = None
    ) -> str:
        done = (
            "nothing was imported"
            if self.last_line is None
            else f"lines {self.first_line}-{self.last_line} imported"
        )
        message = f"{done}, stopped at line {stopped_at}: {reason}; "
        if unconfirmed is None:
            return message + f"rerun with --resume-from {stopped_at} to import the rest"
        return message + (
            f"lines {unconfirmed.first_line}-{unconfirmed.last_line} were sent but not "
            f"confirmed and may be stored too; rerun with --resume-from {stopped_at} "
            f"(or {unconfirmed.last_line + 1} if they are stored)"
        )


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


def iter_batches_from(path: Path, batch_size: int, first_line: int) -> Iterator[jsonl.LineBatch]:
    """jsonl batches of PATH starting at line FIRST_LINE (earlier lines are not parsed)."""
    with path.open("rb") as stream:
        skipped_bytes = 0
        for _ in range(first_line - 1):
            raw = stream.readline()
            if not raw:
                break
            skipped_bytes += len(raw)
        shift = first_line - 1
        try:
            for batch in jsonl.iter_batches(stream, batch_size):
                batch.line_numbers = [n + shift for n in batch.line_numbers]
                batch.end_offset += skipped_bytes
                yield batch
        except jsonl.JsonlError as exc:
            raise jsonl.JsonlError(exc.line_no + shift, exc.message) from exc


def import_file(
    client: Client, path: Path, *, batch_size: int, quiet: bool, first_line: int = 1
) -> dict[str, Any]:
    """Send the file in validated batches; on a bad line or a lost server, stop and say
    which lines were stored and where to resume.

    Pipelined: batch N is sent (in a worker thread) while batch N+1 is read and validated.
    Batches still go one at a time and in order, so "lines 1-K imported" stays exact.
    """
    done = ImportProgress(first_line)
    columns = (
        TextColumn("importing"),
        BarColumn(),
        TextColumn("{task.fields[n]} traces"),
        TimeRemainingColumn(),
    )
    in_flight: tuple[Future[int], jsonl.LineBatch] | None = None
    # The first line not known to be stored: where a rerun resumes.
    next_line = first_line
    unconfirmed: jsonl.LineBatch | None = None

    def finish_in_flight() -> None:
        nonlocal in_flight, next_line, unconfirmed
        if in_flight is not None:
            future, sent = in_flight
            in_flight = None
            try:
                created = future.result()
            except ApiError as exc:
                if exc.maybe_applied:
                    unconfirmed = sent
                raise
            done.record(sent, created)
            next_line = sent.last_line + 1
            progress.update(task, completed=sent.end_offset, n=done.imported)

    with (
        Progress(
            *columns,
            console=err_console,
            disable=quiet or not err_console.is_terminal,
            transient=True,
        ) as progress,
        ThreadPoolExecutor(max_workers=1) as sender,
    ):
        task = progress.add_task("import", total=path.stat().st_size, n=0)
        try:
            try:
                for batch in iter_batches_from(path, batch_size, first_line):
                    finish_in_flight()
                    in_flight = (sender.submit(send_batch, client, batch), batch)
            finally:
                finish_in_flight()  # an earlier batch's outcome comes first in the message
        except jsonl.JsonlError as exc:
            raise errors.ValidationFailed(done.describe_stop(next_line, str(exc))) from exc
        except ApiError as exc:
            raise ApiError(done.describe_stop(next_line, exc.message, unconfirmed)) from exc
    return {"imported": done.imported, "path": str(path), "first_line": first_line}


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
    resume_from: int = typer.Option(
        1,
        "--resume-from",
        min=1,
        metavar="LINE",
        help="Start at this line of the file (the line an interrupted import stopped at).",
    ),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Import a JSONL file of trace payloads in batches.

    A bad line or a lost server stops the import with the lines stored so far and the line
    to pass to --resume-from.
    """
    with Client(server, timeout_s=GENERATE_TIMEOUT_S) as client:
        result = import_file(
            client, path, batch_size=batch_size, quiet=as_json, first_line=resume_from
        )
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
    rows = []
    for row in page["data"]:
        score = row["score"]
        rows.append(
            [
                row["id"],
                escape(row["task"] or "-"),
                "-" if score is None else f"{score:.1f}",
                str(row["step_count"]),
                row["created_at"][:19].replace("T", " "),
                escape(row["final_answer_preview"][:20]),
                escape(row["prompt_preview"][:60]),
                escape(row["source"] or "-"),
            ]
        )
    print_table(console, TRACE_COLUMNS, rows)
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
