"""Trace rows: bulk insert, read, list (metadata only), delete.

Functions take the session and flush; the caller owns the transaction.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import ColumnElement, delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db import bulk
from tunix_rt.db.models import DatasetMember, Trace, TraceScore
from tunix_rt.db.types import utcnow
from tunix_rt.traces.schema import (
    MODEL_OUTPUT_SOURCE_PREFIX,
    PREVIEW_CHARS,
    StoredPayload,
    StoredStep,
    TracePayload,
    TraceSummary,
)

PAYLOAD_JSON_OVERHEAD = 80  # keys and punctuation of the payload object


def new_ids(count: int) -> list[uuid.UUID]:
    """Random (version 4) UUIDs from one urandom call: uuid4() per row is a syscall each."""
    raw = os.urandom(16 * count)
    return [uuid.UUID(bytes=raw[n * 16 : n * 16 + 16], version=4) for n in range(count)]


def encode_row(
    item: Mapping[str, Any], trace_id: uuid.UUID, created_at: datetime
) -> dict[str, Any]:
    """The column values of one validated payload dict; JSON columns pre-serialised."""
    meta = item.get("meta") or {}
    steps_json = to_json(item["steps"]).decode()
    meta_json = to_json(meta).decode()
    return {
        "id": trace_id,
        "created_at": created_at,
        "trace_version": item["trace_version"],
        "prompt": item["prompt"],
        "final_answer": item["final_answer"],
        "steps": steps_json,
        "meta": meta_json,
        "source": meta.get("source"),
        "task": meta.get("task"),
        "step_count": len(item["steps"]),
        "payload_bytes": payload_size(item, steps_json, meta_json),
    }


def payload_size(
    item: Mapping[str, Any], steps_json: str | None = None, meta_json: str | None = None
) -> int:
    """Approximate size of the payload as JSON, in characters (no re-serialisation)."""
    if steps_json is None:
        steps_json = to_json(item["steps"]).decode()
    if meta_json is None:
        meta_json = to_json(item.get("meta") or {}).decode()
    texts = len(item["trace_version"]) + len(item["prompt"]) + len(item["final_answer"])
    return texts + len(steps_json) + len(meta_json) + PAYLOAD_JSON_OVERHEAD


async def insert_traces(
    session: AsyncSession, payloads: Sequence[TracePayload], *, created_at: datetime | None = None
) -> list[uuid.UUID]:
    """Insert validated payloads in one driver-level executemany (no per-row round trips)."""
    return await insert_trace_dicts(session, [p.as_dict() for p in payloads], created_at=created_at)


async def insert_trace_dicts(
    session: AsyncSession,
    items: Sequence[Mapping[str, Any]],
    *,
    created_at: datetime | None = None,
) -> list[uuid.UUID]:
    """Insert validated payload dicts (see schema.validate_payload_dict) in bulk.

    Every row of one call shares one created_at (now, unless given); lists break ties by id,
    so their order is stable.
    """
    if not items:
        return []
    now = created_at or utcnow()
    ids = new_ids(len(items))
    rows = [encode_row(item, i, now) for item, i in zip(items, ids, strict=True)]
    await bulk.insert_rows(session, Trace.__table__, rows)
    return ids


async def read_trace_row(session: AsyncSession, trace_id: uuid.UUID) -> Trace:
    row = await session.get(Trace, trace_id)
    if row is None:
        raise errors.NotFound(f"trace {trace_id} not found")
    return row


def payload_of(row: Trace) -> StoredPayload:
    return StoredPayload(
        trace_version=row.trace_version,
        prompt=row.prompt,
        final_answer=row.final_answer,
        steps=[StoredStep.model_validate(s) for s in row.steps],
        meta=row.meta,
    )


def not_model_output() -> ColumnElement[bool]:
    """Rows that are not model outputs (meta.source "run:<id>", stored from evaluations)."""
    prefix = MODEL_OUTPUT_SOURCE_PREFIX
    return or_(Trace.source.is_(None), func.substr(Trace.source, 1, len(prefix)) != prefix)


async def list_traces(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    source: str | None = None,
    task: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    include_model_outputs: bool = False,
) -> list[TraceSummary]:
    """Newest first. Selects only short previews: steps and full bodies are never loaded.

    Model outputs are listed only when asked for, or when `source` names one.
    """
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
    elif not include_model_outputs:
        stmt = stmt.where(not_model_output())
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
