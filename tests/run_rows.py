"""Seed run rows directly with the ORM for read-side tests (registry, SSE, artifacts).

Writes go through the same tables the worker fills; on PostgreSQL each helper also queues a
NOTIFY, so a live server's hub wakes exactly as it would for a real worker.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.db import models
from tunix_rt.db.types import utcnow
from tunix_rt.runs import notify

Sessions = async_sessionmaker[AsyncSession]


async def insert_run(
    sessions: Sessions,
    *,
    status: str = "running",
    dataset_key: str = "duel-v1",
    mode: str = "async",
    created_at: datetime | None = None,
    **fields: Any,
) -> uuid.UUID:
    run_id = uuid.uuid4()
    now = created_at or utcnow()
    values: dict[str, Any] = {
        "id": run_id,
        "dataset_key": dataset_key,
        "mode": mode,
        "status": status,
        "model_id": "tiny",
        "request": {"dataset_key": dataset_key, "model_id": "tiny", "max_steps": 20},
        "timeout_s": 3600,
        "attempt": 1 if status != "pending" else 0,
        "created_at": now,
        "queued_at": now,
        "updated_at": now,
        "started_at": now if status != "pending" else None,
        "finished_at": now + timedelta(seconds=3) if status in _TERMINAL else None,
    }
    values.update(fields)
    async with sessions() as session:
        session.add(models.Run(**values))
        await session.flush()
        session.add(models.RunEvent(run_id=run_id, from_status=None, to_status="pending"))
        if status != "pending":
            session.add(
                models.RunEvent(run_id=run_id, from_status="pending", to_status=status, attempt=1)
            )
        await session.commit()
    return run_id


_TERMINAL = {"completed", "failed", "cancelled", "timeout"}


async def add_lines(
    sessions: Sessions,
    run_id: uuid.UUID,
    texts: Sequence[str],
    *,
    first_seq: int | None = None,
    stream: str = "stdout",
) -> int:
    """Append lines with consecutive seqs (after the stored top unless first_seq); notify."""
    async with sessions() as session:
        if first_seq is None:
            top = await session.scalar(
                select(func.max(models.RunLogChunk.seq)).where(models.RunLogChunk.run_id == run_id)
            )
            first_seq = int(top or 0) + 1
        session.add_all(
            models.RunLogChunk(run_id=run_id, seq=first_seq + i, stream=stream, text=text)
            for i, text in enumerate(texts)
        )
        await session.execute(
            update(models.Run)
            .where(models.Run.id == run_id)
            .values(log_lines=models.Run.log_lines + len(texts))
        )
        await notify.publish(session, None, notify.Notice("log", str(run_id)))
        await session.commit()
    return first_seq + len(texts) - 1


async def set_status(
    sessions: Sessions, run_id: uuid.UUID, to_status: str, *, reason: str | None = None
) -> None:
    async with sessions() as session:
        run = await session.get(models.Run, run_id)
        assert run is not None
        session.add(
            models.RunEvent(
                run_id=run_id,
                from_status=run.status,
                to_status=to_status,
                reason=reason,
                attempt=run.attempt,
            )
        )
        run.status = to_status
        run.updated_at = utcnow()
        if to_status in _TERMINAL:
            run.finished_at = utcnow()
        await notify.publish(session, None, notify.Notice("status", str(run_id)))
        await session.commit()


async def add_metrics(
    sessions: Sessions, run_id: uuid.UUID, step: int, values: dict[str, float]
) -> None:
    async with sessions() as session:
        session.add_all(
            models.RunMetric(run_id=run_id, name=name, step=step, value=value)
            for name, value in values.items()
        )
        await session.execute(
            update(models.Run).where(models.Run.id == run_id).values(last_step=step)
        )
        await notify.publish(session, None, notify.Notice("metric", str(run_id)))
        await session.commit()


async def add_artifact(
    sessions: Sessions,
    run_id: uuid.UUID,
    relpath: str,
    *,
    kind: str = "file",
    content: bytes | None = None,
    name: str | None = None,
) -> uuid.UUID:
    """Register an artifact row (content only hashes it; the caller writes the files)."""
    artifact_id = uuid.uuid4()
    data = content or b""
    async with sessions() as session:
        session.add(
            models.RunArtifact(
                id=artifact_id,
                run_id=run_id,
                name=name or relpath,
                relpath=relpath,
                kind=kind,
                size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
        await session.commit()
    return artifact_id


def write_file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
