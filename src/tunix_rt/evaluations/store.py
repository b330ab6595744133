"""Evaluation records: write one from a run's eval.json, read, list and page its examples.

Data functions take the session and flush; the caller owns the transaction. The end-of-run
evaluation is written inside the worker's fenced event transaction, so it lands only while
the attempt that produced it still owns the run.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db import bulk, models
from tunix_rt.db.types import utcnow
from tunix_rt.evaluations import stats
from tunix_rt.evaluations.schema import EvaluationOut
from tunix_rt.runs import states
from tunix_rt.runs.registry import id_prefix_range

DEFAULT_SCORER_VERSION = "answer-v1"
END_OF_RUN_SPLIT = "holdout"
EXAMPLE_KEY_CHARS = 32
MAX_CLASS_BREAKDOWN = 20  # more distinct expected answers than this: no per-class summary
MAX_LIST_LIMIT = 500
CHECKPOINT_PREFIX = "checkpoints/"
COMPLETED = "completed"

# An evaluation's status while its job has not stored a result: the job's, in the words an
# evaluation client expects.
STATUS_OF_JOB = {
    states.PENDING: "pending",
    states.RUNNING: "running",
    states.CANCEL_REQUESTED: "running",
    states.COMPLETED: "failed",  # the job ended without storing a record
    states.FAILED: "failed",
    states.TIMEOUT: "failed",
    states.CANCELLED: "cancelled",
}

Evaluation = models.Evaluation
Example = models.EvaluationExample


def example_key(prompt: str) -> str:
    """Pairs the same example across evaluations: a digest of its prompt text."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:EXAMPLE_KEY_CHARS]


def _text(value: Any) -> str:
    # PostgreSQL text cannot hold NUL; a model can generate one.
    return ("" if value is None else str(value)).replace("\x00", "\ufffd")


def _optional_text(value: Any, max_chars: int | None = None) -> str | None:
    if value is None:
        return None
    text = _text(value)
    return text[:max_chars] if max_chars else text


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _example_row(evaluation_id: uuid.UUID, position: int, raw: dict[str, Any]) -> dict[str, Any]:
    prompt = _text(raw.get("prompt"))
    tokens = raw.get("tokens")
    return {
        "evaluation_id": evaluation_id,
        "position": position,
        "example_key": example_key(prompt),
        "prompt": prompt,
        "expected": _text(raw.get("expected_answer")),
        "generated": _text(raw.get("generated")),
        "extracted": _optional_text(raw.get("extracted_answer")),
        "correct": raw.get("correct") is True,
        "format_ok": raw.get("format_ok") is True,
        "task": _optional_text(raw.get("task"), 255),
        "trace_id": _optional_text(raw.get("trace_id"), 64),
        "tokens": tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None,
        "latency_ms": _number(raw.get("latency_ms")),
    }


def _proportions(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    correct = sum(1 for r in rows if r["correct"])
    low, high = stats.wilson_interval(correct, n)
    return {
        "n": n,
        "exact_match": correct / n if n else None,
        "format_ok": sum(1 for r in rows if r["format_ok"]) / n if n else None,
        "ci_low": low if n else None,
        "ci_high": high if n else None,
    }


def summarize_examples(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Exact match with its Wilson 95 % interval, overall and per expected answer."""
    summary = _proportions(rows)
    by_answer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_answer[row["expected"]].append(row)
    summary["by_expected_answer"] = (
        {answer: _proportions(group) for answer, group in sorted(by_answer.items())}
        if len(by_answer) <= MAX_CLASS_BREAKDOWN
        else None
    )
    return summary


async def latest_checkpoint_name(session: AsyncSession, run_id: uuid.UUID) -> str | None:
    """The registered checkpoint artifact with the highest step, or None."""
    names = (
        await session.execute(
            select(models.RunArtifact.name).where(
                models.RunArtifact.run_id == run_id,
                models.RunArtifact.name.startswith(CHECKPOINT_PREFIX),
            )
        )
    ).scalars()
    steps = {
        int(name[len(CHECKPOINT_PREFIX) :]): name
        for name in names
        if name[len(CHECKPOINT_PREFIX) :].isdigit()
    }
    return steps[max(steps)] if steps else None


async def delete_run_evaluations(
    session: AsyncSession, run_id: uuid.UUID, fence: int | None = None
) -> None:
    """Delete a run's evaluations (only the attempt `fence`'s when given) and their rows."""
    ids = select(Evaluation.id).where(Evaluation.run_id == run_id)
    if fence is not None:
        # Only the run's own end-of-run record: evaluation jobs of the run carry their
        # job's fence.
        ids = ids.where(Evaluation.fence == fence, Evaluation.job_id.is_(None))
    await session.execute(delete(Example).where(Example.evaluation_id.in_(ids)))
    await session.execute(
        delete(Evaluation).where(Evaluation.id.in_(ids)),
        execution_options={"synchronize_session": False},
    )


async def record_run_evaluation(
    session: AsyncSession,
    run: models.Run,
    fence: int,
    step: int | None,
    checkpoint: str | None,
    eval_doc: dict[str, Any],
    scorer_version: str = DEFAULT_SCORER_VERSION,
) -> models.Evaluation:
    """Store the end-of-run evaluation of attempt `fence` (eval.json's document) as a record.

    One record per (run, fence): the worker may apply the same eval event again (a retried
    transaction), so an earlier record of this attempt is replaced, never duplicated."""
    await delete_run_evaluations(session, run.id, fence)
    evaluation_id = uuid.uuid4()
    raw_examples = [e for e in eval_doc.get("examples") or [] if isinstance(e, dict)]
    rows = [_example_row(evaluation_id, i, raw) for i, raw in enumerate(raw_examples)]
    summary, doc_summary = _summary_of(rows, eval_doc)
    now = utcnow()
    evaluation = Evaluation(
        id=evaluation_id,
        run_id=run.id,
        fence=fence,
        step=step,
        checkpoint=checkpoint,
        dataset_key=run.dataset_key,
        split=END_OF_RUN_SPLIT,
        status="completed",
        scorer_version=scorer_version[:32],
        n=summary["n"],
        exact_match=summary["exact_match"],
        format_ok=summary["format_ok"],
        summary=summary,
        wall_s=_number(doc_summary.get("wall_s")),
        created_at=now,
        finished_at=now,
    )
    session.add(evaluation)
    await session.flush()  # the parent row first: example rows reference it
    await bulk.insert_rows(session, Example.__table__, rows)
    return evaluation


def _summary_of(
    rows: list[dict[str, Any]], eval_doc: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    summary = summarize_examples(rows)
    doc_summary = eval_doc.get("summary")
    doc_summary = doc_summary if isinstance(doc_summary, dict) else {}
    if isinstance(doc_summary.get("by_task"), dict):
        summary["by_task"] = doc_summary["by_task"]
    return summary, doc_summary


async def record_job_evaluation(
    session: AsyncSession,
    job: models.Run,
    fence: int,
    eval_doc: dict[str, Any],
    scorer_version: str = DEFAULT_SCORER_VERSION,
) -> models.Evaluation:
    """Store an evaluation job's eval.json into its pending record (replacing the rows of an
    earlier try of the same transaction)."""
    evaluation = (
        await session.execute(select(Evaluation).where(Evaluation.job_id == job.id))
    ).scalar_one_or_none()
    if evaluation is None:
        raise errors.NotFound(f"evaluation job {job.id} has no evaluation record")
    await session.execute(delete(Example).where(Example.evaluation_id == evaluation.id))
    raw_examples = [e for e in eval_doc.get("examples") or [] if isinstance(e, dict)]
    rows = [_example_row(evaluation.id, i, raw) for i, raw in enumerate(raw_examples)]
    summary, doc_summary = _summary_of(rows, eval_doc)
    summary.update(
        max_examples=(evaluation.summary or {}).get("max_examples"),
        max_new_tokens=doc_summary.get("max_new_tokens"),
    )
    evaluation.fence = fence
    evaluation.status = COMPLETED
    evaluation.scorer_version = scorer_version[:32]
    evaluation.n = summary["n"]
    evaluation.exact_match = summary["exact_match"]
    evaluation.format_ok = summary["format_ok"]
    evaluation.summary = summary
    evaluation.wall_s = _number(doc_summary.get("wall_s"))
    evaluation.finished_at = utcnow()
    await session.flush()
    await bulk.insert_rows(session, Example.__table__, rows)
    return evaluation


def effective_status(evaluation: models.Evaluation, job_status: str | None) -> str:
    """A record stored by its job is completed; until then it has its job's status."""
    if evaluation.status == COMPLETED or job_status is None:
        return evaluation.status
    return STATUS_OF_JOB.get(job_status, evaluation.status)


async def job_statuses(
    session: AsyncSession, evaluations: list[models.Evaluation]
) -> dict[uuid.UUID, str]:
    """The status of each unfinished listed evaluation's job, in one query."""
    ids = {e.job_id for e in evaluations if e.job_id is not None and e.status != COMPLETED}
    if not ids:
        return {}
    rows = await session.execute(
        select(models.Run.id, models.Run.status).where(models.Run.id.in_(ids))
    )
    return {run_id: status for run_id, status in rows}


async def evaluations_out(
    session: AsyncSession, evaluations: list[models.Evaluation]
) -> list[EvaluationOut]:
    statuses = await job_statuses(session, evaluations)
    return [
        EvaluationOut.of(
            e, effective_status(e, statuses.get(e.job_id) if e.job_id is not None else None)
        )
        for e in evaluations
    ]


async def evaluation_out(session: AsyncSession, evaluation: models.Evaluation) -> EvaluationOut:
    return (await evaluations_out(session, [evaluation]))[0]


async def read_evaluation(session: AsyncSession, evaluation_id: uuid.UUID) -> models.Evaluation:
    evaluation = await session.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise errors.NotFound(f"evaluation {evaluation_id} not found")
    return evaluation


async def list_evaluations(
    session: AsyncSession,
    *,
    run_id: uuid.UUID | None = None,
    dataset_key: str | None = None,
    id_prefix: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[models.Evaluation], int]:
    """Newest first; returns the page and the number of matching evaluations.
    `id_prefix` (a short id) is a primary-key range scan, as for runs."""
    conditions = []
    if run_id is not None:
        conditions.append(Evaluation.run_id == run_id)
    if id_prefix is not None:
        conditions.append(Evaluation.id.between(*id_prefix_range(id_prefix)))
    if dataset_key is not None:
        conditions.append(Evaluation.dataset_key == dataset_key)
    total = (
        await session.execute(select(func.count()).select_from(Evaluation).where(*conditions))
    ).scalar_one()
    page = (
        await session.execute(
            select(Evaluation)
            .where(*conditions)
            .order_by(Evaluation.created_at.desc(), Evaluation.id)
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    return list(page), int(total)


async def list_examples(
    session: AsyncSession,
    evaluation_id: uuid.UUID,
    *,
    correct: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[models.EvaluationExample], int]:
    """An evaluation's examples in position order (only right or wrong ones with `correct`);
    returns the page and the number of matching examples."""
    await read_evaluation(session, evaluation_id)
    conditions = [Example.evaluation_id == evaluation_id]
    if correct is not None:
        conditions.append(Example.correct == correct)
    total = (
        await session.execute(select(func.count()).select_from(Example).where(*conditions))
    ).scalar_one()
    page = (
        await session.execute(
            select(Example)
            .where(*conditions)
            .order_by(Example.position)
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    return list(page), int(total)
