"""Evaluation jobs: an evaluation of any checkpoint of a run, on any dataset split, run as a
job on the same queue and workers as training (a runs row of kind "eval").

Submitting resolves the checkpoint to a step at once ("latest" is the newest committed
checkpoint now, "best" the run's best), pins that step so retention keeps it, and creates
the pending evaluation record and its job in one transaction. The worker materializes the
job like a training attempt: the checkpoint and the run's tokenizer hard-linked into the
attempt directory, the split exported, and a spec with task "evaluate" built from the
source run's own spec (same model, same LoRA shape). The training child restores the
checkpoint, evaluates and writes eval.json; the worker stores it into the pending record,
fenced by the job's attempt like any write.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.datasets import store as dataset_store
from tunix_rt.db import models
from tunix_rt.db.types import utcnow
from tunix_rt.evaluations import store
from tunix_rt.evaluations.schema import EvaluationRequest
from tunix_rt.runs import artifacts, materialize, queue, states
from tunix_rt.runs import checkpoints as run_checkpoints
from tunix_rt.runs.notify import Notice
from tunix_rt.settings import Settings
from tunix_rt.traces import scorer

KIND_EVAL = "eval"
KIND_TRAIN = "train"
EVAL_PATH = "data/eval.jsonl"
DEFAULT_MAX_NEW_TOKENS = 128
PENDING = "pending"


def pin_reason(evaluation_id: uuid.UUID) -> str:
    return f"evaluation:{evaluation_id}"


async def submit_evaluation(
    session: AsyncSession, request: EvaluationRequest, settings: Settings
) -> tuple[models.Evaluation, models.Run, Notice]:
    """The pending evaluation record and its queued job; the caller commits."""
    source = await session.get(models.Run, request.run_id)
    if source is None:
        raise errors.NotFound(f"run {request.run_id} not found")
    if source.kind != KIND_TRAIN or source.dry_run:
        raise errors.ValidationFailed("run_id: only a training run (not a dry run) has checkpoints")
    dataset_key = request.dataset_key or source.dataset_key
    await dataset_store.read_dataset(session, dataset_key)
    step = await run_checkpoints.resolve_step(session, source, request.checkpoint, "evaluate")
    evaluation_id = uuid.uuid4()
    # Pin first, under the run's row lock: a worker pruning the run's checkpoints meanwhile
    # either ran before (the pin then refuses a deleted step) or waits for this transaction.
    await run_checkpoints.pin_checkpoint(session, source.id, step, pin_reason(evaluation_id))
    max_new_tokens = request.max_new_tokens or int(
        source.request.get("eval_max_new_tokens") or DEFAULT_MAX_NEW_TOKENS
    )
    job_request: dict[str, Any] = {
        "evaluation_id": str(evaluation_id),
        "source_run_id": str(source.id),
        "step": step,
        "dataset_key": dataset_key,
        "split": request.split,
        "max_examples": request.max_examples,
        "max_new_tokens": max_new_tokens,
    }
    now = utcnow()
    job = models.Run(
        id=uuid.uuid4(),
        kind=KIND_EVAL,
        dataset_key=dataset_key,
        mode="async",
        status=states.PENDING,
        model_id=source.model_id,
        dry_run=False,
        request=job_request,
        priority=request.priority,
        timeout_s=request.timeout_s or settings.default_timeout_s,
        max_attempts=settings.default_max_attempts,
        attempt=0,
        name=f"eval of {source.name or str(source.id)[:8]} step {step}"[:200],
        created_at=now,
        queued_at=now,
        updated_at=now,
    )
    session.add(job)
    await session.flush()
    evaluation = models.Evaluation(
        id=evaluation_id,
        run_id=source.id,
        job_id=job.id,
        step=step,
        checkpoint=f"{artifacts.CHECKPOINTS_DIR}/{step}",
        dataset_key=dataset_key,
        split=request.split,
        status=PENDING,
        scorer_version=scorer.SCORER_VERSION,
        n=0,
        summary={"max_examples": request.max_examples, "max_new_tokens": max_new_tokens},
        created_at=now,
    )
    session.add(evaluation)
    await session.flush()
    notice = await queue.record_enqueued(session, job, f"evaluation {evaluation_id}")
    return evaluation, job, notice


async def cancel_evaluation(
    session: AsyncSession, evaluation_id: uuid.UUID
) -> tuple[models.Evaluation, Notice | None]:
    evaluation = await session.get(models.Evaluation, evaluation_id)
    if evaluation is None:
        raise errors.NotFound(f"evaluation {evaluation_id} not found")
    if evaluation.job_id is None:
        raise errors.Conflict(
            f"evaluation {evaluation_id} is the end-of-run evaluation of its run: cancel the run",
            status=evaluation.status,
        )
    job = await session.get(models.Run, evaluation.job_id)
    if job is None or job.status in states.TERMINAL:
        raise errors.Conflict(
            f"evaluation {evaluation_id} has already ended",
            status=store.effective_status(evaluation, job.status if job else None),
        )
    _run, notice = await queue.request_cancel(session, evaluation.job_id)
    return evaluation, notice


async def _export_eval_split(
    session: AsyncSession, dataset_key: str, split: str, path: Path
) -> int:
    if split != "all":
        return await materialize.export_split(session, dataset_key, split, path)
    count = 0
    parts = []
    for part in ("train", "holdout"):
        part_path = path.with_name(f"{path.stem}.{part}.jsonl")
        count += await materialize.export_split(session, dataset_key, part, part_path)
        parts.append(part_path)
    with path.open("w", encoding="utf-8") as out:
        for part_path in parts:
            out.write(part_path.read_text(encoding="utf-8"))
            part_path.unlink()
    return count


async def materialize_eval_job(session: AsyncSession, job: models.Run, settings: Settings) -> Path:
    """Write the attempt directory of a claimed eval job; returns its spec.json path."""
    req = job.request
    source = await session.get(models.Run, uuid.UUID(str(req["source_run_id"])))
    if source is None:
        raise errors.NotFound(f"the evaluated run {req['source_run_id']} no longer exists")
    step = int(req["step"])
    attempt_dir = materialize.attempt_dir_of(settings, job.id, job.fence)
    (attempt_dir / "logs").mkdir(parents=True, exist_ok=True)
    await materialize.link_source_checkpoint(session, source, step, settings, attempt_dir)
    count = await _export_eval_split(
        session, str(req["dataset_key"]), str(req["split"]), attempt_dir / EVAL_PATH
    )
    if count == 0:
        raise errors.ValidationFailed(
            f"dataset {req['dataset_key']} has no {req['split']} examples to evaluate"
        )
    spec = await materialize.source_spec(session, source, settings)
    spec.update(
        run_id=str(job.id),
        attempt=max(job.attempt, 1),
        task="evaluate",
        dry_run=False,
    )
    spec["dataset"] = {
        "key": str(req["dataset_key"]),
        "train_path": EVAL_PATH,
        "holdout_path": EVAL_PATH,
        "format": "tunix_sft",
    }
    spec["evaluation"] = {
        **spec["evaluation"],
        "max_new_tokens": int(req["max_new_tokens"]),
        "max_examples": int(req["max_examples"]),
        "every_steps": None,
        "checkpoint_step": step,
    }
    spec_path = attempt_dir / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return spec_path
