"""Export jobs: a checkpoint of a training run written as a Hugging Face directory (`hf`:
merged weights, config.json, tokenizer) or PEFT adapters (`peft`), run as a job on the run
queue (a runs row of kind "export"), like evaluation jobs.

Submitting resolves the checkpoint to a step ("latest", "best" or a step), pins it (reason
`export:<format>`, through `checkpoints.pin_checkpoint`, which serialises with the worker's
pruning on the run row) and queues the job in one transaction. The worker materializes the
job (the checkpoint and the run's tokenizer hard-linked into the attempt directory, a spec
with task "export" built from the source run's own spec); the training child writes
`export/<format>` into its attempt directory, complete or not at all. When the job's
outputs are registered (fenced by the job's attempt), that directory moves into the source
run's directory (`exports/<job id>/<format>`) and becomes the source run's directory
artifact `export/<format>`, downloadable as a tar like a checkpoint. A newer export of the
same format replaces the row; the older directory is removed after the commit.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.db.types import utcnow
from tunix_rt.runs import artifacts, materialize, queue, states
from tunix_rt.runs import checkpoints as run_checkpoints
from tunix_rt.runs.notify import Notice
from tunix_rt.runs.schema import PRESET_MODELS
from tunix_rt.settings import Settings

KIND_EXPORT = "export"
KIND_TRAIN = "train"
EXPORT_DIR = "export"  # in the job's attempt directory: export/<format>
EXPORTS_DIR = "exports"  # in the source run's directory: exports/<job id>/<format>
MAX_TIMEOUT_S = 7 * 24 * 3600

ExportFormat = Literal["hf", "peft"]


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: ExportFormat = Field(
        default="hf",
        description="hf: merged weights + config.json + tokenizer (transformers, vLLM); "
        "peft: LoRA adapters (LoRA runs only).",
    )
    checkpoint: Literal["latest", "best"] | int = Field(
        default="latest", description='"latest", "best" or a checkpoint step.'
    )
    priority: int = Field(default=0, ge=-1000, le=1000)
    timeout_s: int | None = Field(default=None, ge=1, le=MAX_TIMEOUT_S)


class ExportSubmitted(BaseModel):
    job_id: uuid.UUID
    run_id: uuid.UUID
    format: ExportFormat
    step: int
    artifact: str = Field(description="The source run's artifact name once the job completes.")
    status: str


def pin_reason(export_format: str) -> str:
    return f"export:{export_format}"


def artifact_name(export_format: str) -> str:
    return f"{EXPORT_DIR}/{export_format}"


def is_lora(run: models.Run) -> bool:
    return (run.request or {}).get("lora_rank") is not None


async def submit_export(
    session: AsyncSession, run_id: uuid.UUID, request: ExportRequest, settings: Settings
) -> tuple[models.Run, int, Notice]:
    """The queued export job and the exported step; the caller commits."""
    source = await session.get(models.Run, run_id)
    if source is None:
        raise errors.NotFound(f"run {run_id} not found")
    if source.kind != KIND_TRAIN or source.dry_run:
        raise errors.ValidationFailed("only a training run (not a dry run) has checkpoints")
    if request.format == "peft" and not is_lora(source):
        raise errors.ValidationFailed(
            f"format peft needs a LoRA run; run {run_id} is a full fine-tune"
            f"{' of a from-scratch preset' if source.model_id in PRESET_MODELS else ''}: "
            'export it with format "hf"'
        )
    step = await run_checkpoints.resolve_step(session, source, request.checkpoint, "export")
    # Pin first, under the run's row lock: a prune either ran before (the pin then refuses
    # a deleted step) or waits for this transaction.
    await run_checkpoints.pin_checkpoint(session, source.id, step, pin_reason(request.format))
    now = utcnow()
    job = models.Run(
        id=uuid.uuid4(),
        kind=KIND_EXPORT,
        dataset_key=source.dataset_key,
        mode="async",
        status=states.PENDING,
        model_id=source.model_id,
        dry_run=False,
        request={"source_run_id": str(source.id), "step": step, "format": request.format},
        priority=request.priority,
        timeout_s=request.timeout_s or settings.default_timeout_s,
        max_attempts=settings.default_max_attempts,
        attempt=0,
        name=f"export {request.format} of {source.name or str(source.id)[:8]} step {step}"[:200],
        created_at=now,
        queued_at=now,
        updated_at=now,
    )
    session.add(job)
    await session.flush()
    notice = await queue.record_enqueued(session, job, f"export {request.format} of {source.id}")
    return job, step, notice


async def materialize_export_job(
    session: AsyncSession, job: models.Run, settings: Settings
) -> Path:
    """Write the attempt directory of a claimed export job; returns its spec.json path."""
    req = job.request
    source = await session.get(models.Run, uuid.UUID(str(req["source_run_id"])))
    if source is None:
        raise errors.NotFound(f"the exported run {req['source_run_id']} no longer exists")
    step = int(req["step"])
    attempt_dir = materialize.attempt_dir_of(settings, job.id, job.fence)
    (attempt_dir / "logs").mkdir(parents=True, exist_ok=True)
    await materialize.link_source_checkpoint(session, source, step, settings, attempt_dir)
    spec = await materialize.source_spec(session, source, settings)
    spec.update(run_id=str(job.id), attempt=max(job.attempt, 1), task="export", dry_run=False)
    spec["export"] = {"format": str(req["format"]), "checkpoint_step": step}
    spec_path = attempt_dir / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return spec_path


def _move_into_source(produced: Path, target: Path) -> None:
    """The attempt's export directory into the source run's directory (same volume: a
    rename). Idempotent: a retried registration finds it moved already."""
    if target.is_dir() or not produced.is_dir():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(produced, target)


async def register_export(
    session: AsyncSession, job: models.Run, settings: Settings, attempt_dir: Path
) -> Path | None:
    """Register a finished export as the source run's artifact `export/<format>` (inside
    the job's fenced transaction); returns an older export directory to remove after the
    commit, if any. Nothing happens when the child produced no export."""
    req = job.request or {}
    export_format = str(req.get("format"))
    source = await session.get(models.Run, uuid.UUID(str(req.get("source_run_id"))))
    if source is None:
        return None
    source_dir = materialize.run_dir_of(settings, source.id)
    relpath = f"{EXPORTS_DIR}/{job.id}/{export_format}"
    produced = attempt_dir / EXPORT_DIR / export_format
    if not produced.is_dir() and not (source_dir / relpath).is_dir():
        return None
    name = artifact_name(export_format)
    previous = (
        await session.execute(
            select(models.RunArtifact.relpath).where(
                models.RunArtifact.run_id == source.id, models.RunArtifact.name == name
            )
        )
    ).scalar_one_or_none()
    _move_into_source(produced, source_dir / relpath)
    row = await artifacts.register_artifact(session, source.id, source_dir, relpath, name=name)
    if row is None:
        return None
    result: dict[str, Any] = {
        "source_run_id": str(source.id),
        "format": export_format,
        "step": req.get("step"),
        "artifact": name,
        "artifact_id": str(row.id),
        "size_bytes": row.size_bytes,
    }
    await queue.update_run_fields(session, job.id, result=result)
    if previous is None or previous == relpath:
        return None
    return source_dir / previous


def remove_stale(path: Path | None) -> None:
    """Remove an older export directory (after the commit that replaced its row)."""
    if path is not None and path.parent.parent.name == EXPORTS_DIR:
        shutil.rmtree(path.parent, ignore_errors=True)
