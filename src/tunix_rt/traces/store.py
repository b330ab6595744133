"""Trace rows: bulk insert, read, list (metadata only), delete.

Functions take the session and flush; the caller owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db.models import DatasetMember, Trace, TraceScore
from tunix_rt.db.types import utcnow
from tunix_rt.traces import bulk
from tunix_rt.traces.schema import PREVIEW_CHARS, TracePayload, TraceStep, TraceSummary

STEPS_ADAPTER: TypeAdapter[list[TraceStep]] = TypeAdapter(list[TraceStep])
META_ADAPTER: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


def encode_row(payload: TracePayload, trace_id: uuid.UUID, created_at: datetime) -> dict[str, Any]:
    """The column values of one trace; JSON columns are pre-serialised strings."""
    meta = payload.meta
    return {
        "id": trace_id,
        "created_at": created_at,
        "trace_version": payload.trace_version,
        "prompt": payload.prompt,
        "final_answer": payload.final_answer,
        "steps": STEPS_ADAPTER.dump_json(payload.steps).decode(),
        "meta": META_ADAPTER.dump_json(meta).decode(),
        "source": meta.get("source"),
        "task": meta.get("task"),
        "step_count": len(payload.steps),
        "payload_bytes": payload_size(payload),
    }


def payload_size(payload: TracePayload) -> int:
    return len(payload.model_dump_json())


async def insert_traces(session: AsyncSession, payloads: Sequence[TracePayload]) -> list[uuid.UUID]:
    """Insert many traces in one driver-level executemany (no per-row round trips).

    Every row of one call shares one created_at; lists break ties by id, so order is stable.
    """
    if not payloads:
        return []
    now = utcnow()
    ids = [uuid.uuid4() for _ in payloads]
    rows = [encode_row(p, i, now) for p, i in zip(payloads, ids, strict=True)]
    await bulk.insert_rows(session, Trace.__table__, rows)
    return ids


async def read_trace_row(session: AsyncSession, trace_id: uuid.UUID) -> Trace:
    row = await session.get(Trace, trace_id)
    if row is None:
        raise errors.NotFound(f"trace {trace_id} not found")
    return row


def payload_of(row: Trace) -> TracePayload:
    return TracePayload.model_construct(
        trace_version=row.trace_version,
        prompt=row.prompt,
        final_answer=row.final_answer,
        steps=[TraceStep.model_construct(**s) for s in row.steps],
        meta=row.meta,
    )


async def list_traces(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    source: str | None = None,
    task: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> list[TraceSummary]:
    """Newest first. Selects only short previews: steps and full bodies are never loaded."""
    latest_score = (
        select(TraceScore.score)
        .where(TraceScore.trace_id == Trace.id)
        .order_by(TraceScore.created_at.desc(), TraceScore.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    stmt = select(
        Trace.id,
        Trace.created_at,
        Trace.trace_version,
        Trace.source,
        Trace.task,
        Trace.step_count,
        func.substr(Trace.prompt, 1, PREVIEW_CHARS).label("prompt_preview"),
        func.substr(Trace.final_answer, 1, PREVIEW_CHARS).label("final_answer_preview"),
        latest_score.label("score"),
    )
    if source is not None:
        stmt = stmt.where(Trace.source == source)
    if task is not None:
        stmt = stmt.where(Trace.task == task)
    if created_after is not None:
        stmt = stmt.where(Trace.created_at > created_after)
    if created_before is not None:
        stmt = stmt.where(Trace.created_at < created_before)
    stmt = stmt.order_by(Trace.created_at.desc(), Trace.id.desc()).limit(limit).offset(offset)
    result = await session.execute(stmt)
    return [TraceSummary.model_validate(dict(r._mapping)) for r in result]


async def delete_trace(session: AsyncSession, trace_id: uuid.UUID) -> None:
    """Delete a trace and its scores; a dataset member cannot be deleted (409)."""
    member_of = await session.scalar(
        select(DatasetMember.dataset_key).where(DatasetMember.trace_id == trace_id).limit(1)
    )
    if member_of is not None:
        raise errors.Conflict(
            f"trace {trace_id} belongs to dataset {member_of!r}; datasets are frozen, "
            "so its traces cannot be deleted"
        )
    found = await session.scalar(select(exists().where(Trace.id == trace_id)))
    if not found:
        raise errors.NotFound(f"trace {trace_id} not found")
    try:
        await session.execute(delete(TraceScore).where(TraceScore.trace_id == trace_id))
        await session.execute(delete(Trace).where(Trace.id == trace_id))
        await session.flush()
    except IntegrityError as exc:
        # A dataset build committed between our check and the delete: the RESTRICT FK wins.
        raise errors.Conflict(
            f"trace {trace_id} belongs to a dataset; datasets are frozen, "
            "so its traces cannot be deleted"
        ) from exc
