"""`tunix-rt runs export RUN`: queue an export job, wait for it, optionally download the tar."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from tunix_rt.cli import download as artifact_download
from tunix_rt.cli.client import Client
from tunix_rt.cli.output import command, console, err_console, fail, print_json
from tunix_rt.cli.run_ids import resolve_run_id
from tunix_rt.cli.runs_submit import JSON_OPTION, SERVER_OPTION

POLL_INTERVAL_S = 1.0
TERMINAL = {"completed", "failed", "cancelled", "timeout"}


def _checkpoint(step: int | None, checkpoint: str | None) -> str | int:
    if step is not None and checkpoint is not None:
        fail("give --step or --checkpoint, not both", 2)
    if step is not None:
        return step
    value = checkpoint or "latest"
    if value not in ("latest", "best") and not value.isdigit():
        fail(f"--checkpoint must be latest, best or a step, not {value!r}", 2)
    return int(value) if value.isdigit() else value


def _wait(client: Client, job_id: str) -> dict[str, Any]:
    with err_console.status(f"exporting (job {job_id[:8]})"):
        while True:
            job: dict[str, Any] = client.get_json(f"/api/tunix/runs/{job_id}")
            if job["status"] in TERMINAL:
                return job
            time.sleep(POLL_INTERVAL_S)


@command
def export(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix of it."),
    export_format: str = typer.Option("hf", "--format", help="hf (merged weights) or peft."),
    step: int | None = typer.Option(None, "--step", min=0, help="Checkpoint step."),
    checkpoint: str | None = typer.Option(None, "--checkpoint", help="latest (default), best."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the export job."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Download the export as a tar here once it is done."
    ),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Export a checkpoint as a Hugging Face directory (hf) or PEFT adapters (peft)."""
    if export_format not in ("hf", "peft"):
        fail(f"--format must be hf or peft, not {export_format!r}", 2)
    body = {"format": export_format, "checkpoint": _checkpoint(step, checkpoint)}
    with Client(server) as client:
        run_id = resolve_run_id(client, run_id)
        submitted: dict[str, Any] = client.post_json(f"/api/tunix/runs/{run_id}/export", body)
        job_id = str(submitted["job_id"])
        if not wait and output is None:
            if as_json:
                print_json(submitted)
            else:
                console.print(
                    f"export job {job_id} queued (step {submitted['step']}); follow it with "
                    f"`tunix-rt runs logs {job_id[:8]} -f`",
                    highlight=False,
                )
            return
        job = _wait(client, job_id)
        if job["status"] != "completed":
            fail(f"export job {job_id} {job['status']}: {job.get('error') or ''}".strip())
        found = artifact_download.find_artifact(client, run_id, str(submitted["artifact"]))
        path = None
        if output is not None:
            target = output / artifact_download.default_output(found) if output.is_dir() else output
            path = artifact_download.download_artifact(client, run_id, found, target, err_console)
    if as_json:
        print_json(
            {
                **submitted,
                "status": job["status"],
                "artifact_id": found["id"],
                "path": str(path) if path else None,
            }
        )
        return
    console.print(
        f"exported step {submitted['step']} of run {run_id} as {found['name']} "
        f"({found['size_bytes']:,} bytes, artifact {found['id']})",
        highlight=False,
    )
    if path is not None:
        console.print(f"saved to {path}", highlight=False)
