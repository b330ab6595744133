"""Long trace writes as a series of short committed transactions, all-or-nothing to the caller.

SQLite has one writer: a transaction that inserts 100,000 rows holds the write lock for
seconds, and every other writer waiting longer than its busy timeout fails. Here each chunk
is generated before its transaction starts and committed on its own, so the lock is held
for one chunk's INSERT at a time. Readers may see the earlier chunks before the last one
lands. If a chunk fails, the chunks already committed are deleted again; if even that fails
(the database went away), the error says how many rows stayed.

Unlike the functions of store.py, these commit: the caller hands over its session.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Iterable

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db.models import Trace
from tunix_rt.traces import store
from tunix_rt.traces.schema import TracePayload

DELETE_CHUNK_ROWS = 1_000


async def insert_in_chunks(
    session: AsyncSession, payloads: Iterable[TracePayload], chunk_rows: int
) -> int:
    """Insert and commit `chunk_rows` payloads at a time; return how many were stored."""
    source = iter(payloads)
    stored: list[uuid.UUID] = []
    try:
        while chunk := list(itertools.islice(source, chunk_rows)):
            ids = await store.insert_traces(session, chunk)
            await session.commit()
            stored.extend(ids)
    except Exception as exc:
        with contextlib.suppress(Exception):
            await session.rollback()
        kept = await _delete_committed(session, stored)
        if not kept or not isinstance(exc, errors.Unavailable):
            raise
        raise errors.Unavailable(
            f"{exc.message}; {kept} traces committed before the failure were not removed again",
            retry_after_s=exc.retry_after_s,
            **exc.details,
            stored=kept,
        ) from exc
    return len(stored)


async def _delete_committed(session: AsyncSession, ids: list[uuid.UUID]) -> int:
    """Delete the rows of `ids` in short transactions; return how many could not be."""
    for start in range(0, len(ids), DELETE_CHUNK_ROWS):
        try:
            await session.execute(
                delete(Trace).where(Trace.id.in_(ids[start : start + DELETE_CHUNK_ROWS]))
            )
            await session.commit()
        except Exception:
            with contextlib.suppress(Exception):
                await session.rollback()
            return len(ids) - start
    return 0
