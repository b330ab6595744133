"""`tunix-rt runs`: submit, list, show, edit, logs, cancel, retry, artifacts, download, delete."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from tunix_rt.cli import download as artifact_download
from tunix_rt.cli import follow, runs_export, runs_render, runs_sample, runs_submit
from tunix_rt.cli.client import Client
from tunix_rt.cli.output import command, console, err_console, fail, print_json
from tunix_rt.cli.run_ids import resolve_run_id
from tunix_rt.cli.runs_rollouts import rollouts as show_rollouts
from tunix_rt.cli.runs_submit import (
    JSON_OPTION,
    NAME_OPTION,
    NOTES_FILE_OPTION,
    NOTES_OPTION,
    SERVER_OPTION,
    TAG_OPTION,
)

app = typer.Typer(help="Training runs: submit, follow, inspect, download.", no_args_is_help=True)
app.command("submit")(runs_submit.submit)
app.command("export")(runs_export.export)
app.command("sample")(runs_sample.sample)

RUN_ID_ARG = typer.Argument(
    ..., help="Run id, or a unique prefix of it such as the 8-character short id the UI shows."
)
SNAPSHOT_MAX_LINES = 10_000


@app.command("list")
@command
def list_runs(
    status: str | None = typer.Option(None, "--status", help="Only runs in this status."),
    dataset: str | None = typer.Option(None, "--dataset", help="Only runs on this dataset."),
    mode: str | None = typer.Option(None, "--mode", help="async or sync."),
    tags: list[str] | None = typer.Option(
        None, "--tag", "-t", help="Only runs with this tag; repeat for runs with all of them."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Only runs whose name contains this text (any case)."
    ),
    kind: str | None = typer.Option(
        None, "--kind", help="train (default), eval (evaluation jobs) or all."
    ),
    limit: int = typer.Option(20, "--limit", min=1, max=100),
    offset: int = typer.Option(0, "--offset", min=0),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List runs, newest first."""
    params: dict[str, str | int | list[str]] = {"limit": limit, "offset": offset}
    for key, value in (
        ("status", status),
        ("dataset_key", dataset),
        ("mode", mode),
        ("q", name),
        ("kind", kind),
    ):
        if value:
            params[key] = value
    if tags:
        params["tag"] = tags
    with Client(server) as client:
        page = client.get_json("/api/tunix/runs", params=params)
    if as_json:
        print_json(page)
        return
    if not page["data"]:
        console.print("no runs")
        return
    runs_render.print_run_table(console, page["data"])
    next_offset = (page.get("pagination") or {}).get("next_offset")
    if next_offset is not None:
        console.print(f"[dim]more: --offset {next_offset}[/dim]")


@app.command("show")
@command
def show_run(
    run_id: str = RUN_ID_ARG, server: str | None = SERVER_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """Show one run: status, progress, eval summary, history."""
    with Client(server) as client:
        run_id = resolve_run_id(client, run_id)
        run = client.get_json(f"/api/tunix/runs/{run_id}")
        if as_json:
            print_json(run)
            return
        events = client.get_json(f"/api/tunix/runs/{run_id}/events").get("data", [])
    runs_render.print_run_detail(console, run, events)


@app.command("edit")
@command
def edit_run(
    run_id: str = RUN_ID_ARG,
    name: str | None = NAME_OPTION,
    tags: list[str] | None = TAG_OPTION,
    untags: list[str] | None = typer.Option(
        None, "--untag", help="Remove this tag; repeat for several."
    ),
    notes: str | None = NOTES_OPTION,
    notes_file: Path | None = NOTES_FILE_OPTION,
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Rename, tag or annotate a run (any status). --name "" removes the name."""
    body: dict[str, object] = {}
    if name is not None:
        body["name"] = name
    if tags:
        body["add_tags"] = tags
    if untags:
        body["remove_tags"] = untags
    text = runs_submit.read_notes(notes, notes_file)
    if text is not None:
        body["notes"] = text
    if not body:
        fail("nothing to change: give --name, --tag, --untag, --notes or --notes-file")
    with Client(server) as client:
        run_id = resolve_run_id(client, run_id)
        run = client.request("PATCH", f"/api/tunix/runs/{run_id}", json=body).json()
    if as_json:
        print_json(run)
    else:
        runs_render.print_run_labels(console, run)


@app.command("logs")
@command
def show_logs(
    run_id: str = RUN_ID_ARG,
    follow_log: bool = typer.Option(False, "--follow", "-f", help="Stream until the run ends."),
    since: int | None = typer.Option(None, "--since", min=0, help="Only lines after this seq."),
    tail: int | None = typer.Option(None, "--tail", min=0, max=SNAPSHOT_MAX_LINES),
    server: str | None = SERVER_OPTION,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Print a run's log; with -f follow it (exit code 0 only if the run completes)."""
    with Client(server) as client:
        run_id = resolve_run_id(client, run_id)
        since_seq = since or 0
        if tail is not None or not follow_log:
            lines = tail if tail is not None else SNAPSHOT_MAX_LINES
            snap = client.get_json(
                f"/api/tunix/runs/{run_id}/logs/snapshot", params={"tail": lines}
            )
            for line in snap["lines"]:
                if line["seq"] <= since_seq:
                    continue
                if as_json:
                    sys.stdout.write(json.dumps({"event": "log", **line}) + "\n")
                else:
                    follow.print_log_line(console, line)
            since_seq = max(since_seq, int(snap.get("last_seq") or 0))
            if not follow_log:
                return
        status = follow.follow_run(
            client,
            run_id,
            since_seq=since_seq,
            console=console,
            notice=err_console,
            show_progress=False,
            json_lines=as_json,
        )
    if status != "completed":
        err_console.print(f"[red]run {run_id} {status}[/red]", highlight=False)
        raise typer.Exit(1)


@app.command("cancel")
@command
def cancel_run(
    run_id: str = RUN_ID_ARG, server: str | None = SERVER_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """Cancel a run (a running one stops after a final checkpoint)."""
    with Client(server) as client:
        run_id = resolve_run_id(client, run_id)
        run = client.post_json(f"/api/tunix/runs/{run_id}/cancel")
    if as_json:
        print_json(run)
    else:
        console.print(f"run {run_id}: {runs_render.styled_status(run['status'])}")


@app.command("retry")
@command
def retry_run(
    run_id: str = RUN_ID_ARG,
    follow_run: bool = typer.Option(False, "--follow", "-f", help="Stream the new run's log."),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Start a new run with the same request, resuming from the old run's last checkpoint."""
    with Client(server) as client:
        run_id = resolve_run_id(client, run_id)
        run = client.post_json(f"/api/tunix/runs/{run_id}/retry")
        new_id = str(run["run_id"])
        if follow_run:
            raise typer.Exit(runs_submit.follow_submitted(client, new_id, as_json=as_json))
    if as_json:
        print_json(run)
    else:
        console.print(f"retrying {run_id} as run [bold]{new_id}[/bold] ({run['status']})")


@app.command("artifacts")
@command
def list_artifacts(
    run_id: str = RUN_ID_ARG, server: str | None = SERVER_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """List the files and checkpoints a run produced."""
    with Client(server) as client:
        run_id = resolve_run_id(client, run_id)
        artifacts = client.get_json(f"/api/tunix/runs/{run_id}/artifacts")
    if as_json:
        print_json(artifacts)
    elif not artifacts:
        console.print("no artifacts")
    else:
        runs_render.print_artifact_table(console, artifacts)


@app.command("download")
@command
def download(
    run_id: str = RUN_ID_ARG,
    artifact: str = typer.Argument(..., help="Artifact id or name (see `runs artifacts`)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Destination file."),
    server: str | None = SERVER_OPTION,
) -> None:
    """Download an artifact (directories as .tar); resumes a partial file, verifies sha256."""
    with Client(server) as client:
        run_id = resolve_run_id(client, run_id)
        found = artifact_download.find_artifact(client, run_id, artifact)
        target = output or artifact_download.default_output(found)
        if target.is_dir():
            target = target / artifact_download.default_output(found)
        path = artifact_download.download_artifact(client, run_id, found, target, err_console)
    verified = " (sha256 verified)" if found.get("kind") == "file" and found.get("sha256") else ""
    console.print(f"saved {found['name']} to {path}{verified}", highlight=False)


@app.command("delete")
@command
def delete_run(run_id: str = RUN_ID_ARG, server: str | None = SERVER_OPTION) -> None:
    """Delete a finished run with its logs and files."""
    with Client(server) as client:
        run_id = resolve_run_id(client, run_id)
        client.request("DELETE", f"/api/tunix/runs/{run_id}")
    console.print(f"deleted run {run_id}")


app.command("rollouts")(show_rollouts)
# `runs create` is `runs submit` (GRPO docs say create: --algorithm grpo --init-from RUN).
app.command("create", hidden=True)(runs_submit.submit)
