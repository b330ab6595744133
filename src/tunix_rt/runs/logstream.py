"""Reading a run's log lines from run_log_chunks: pages after a seq, the tail, truncation.

Invariant relied on: the LogWriter gives every run gap-free seqs starting at 1 and commits
them in order, and the byte cap only deletes the OLDEST rows. So the rows a reader sees
after seq N are always N+1, N+2, ... unless the cap removed some, in which case the first
row returned is > N+1 and the difference is exactly the number of lines this reader lost.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db import models

MAX_TAIL_LINES = 10_000
PAGE_LINES = 2_000

Chunk = models.RunLogChunk


@dataclass(frozen=True)
class LogLine:
    seq: int
    stream: str
    text: str


@dataclass(frozen=True)
class LogPage:
    lines: list[LogLine]
    # Lines between the requested seq and the first returned one that the cap deleted.
    dropped: int

    @property
    def last_seq(self) -> int | None:
        return self.lines[-1].seq if self.lines else None


@dataclass(frozen=True)
class LogTail:
    lines: list[LogLine]
    last_seq: int
    dropped_lines: int
    status: str


async def read_lines_after(
    session: AsyncSession, run_id: uuid.UUID, after_seq: int, limit: int = PAGE_LINES
) -> LogPage:
    """Up to `limit` lines with seq > after_seq, in order, and how many were dropped before."""
    rows = await session.execute(
        select(Chunk.seq, Chunk.stream, Chunk.text)
        .where(Chunk.run_id == run_id, Chunk.seq > after_seq)
        .order_by(Chunk.seq)
        .limit(limit)
    )
    lines = [LogLine(r.seq, r.stream, r.text) for r in rows]
    dropped = lines[0].seq - after_seq - 1 if lines else 0
    return LogPage(lines, max(0, dropped))


async def read_tail(session: AsyncSession, run_id: uuid.UUID, tail: int) -> LogTail:
    """The last `tail` lines (oldest first) and the seq to resume a stream from."""
    if not 0 <= tail <= MAX_TAIL_LINES:
        raise errors.ValidationFailed(f"tail must be between 0 and {MAX_TAIL_LINES}")
    run = (
        await session.execute(
            select(models.Run.status, models.Run.log_dropped_lines).where(models.Run.id == run_id)
        )
    ).one_or_none()
    if run is None:
        raise errors.NotFound(f"run {run_id} not found")
    # The status is read before the lines: a client that sees a terminal status here and
    # resumes from last_seq still gets every line via the stream's final drain.
    rows = await session.execute(
        select(Chunk.seq, Chunk.stream, Chunk.text)
        .where(Chunk.run_id == run_id)
        .order_by(Chunk.seq.desc())
        .limit(tail)
    )
    lines = [LogLine(r.seq, r.stream, r.text) for r in rows]
    lines.reverse()
    if lines:
        last_seq = lines[-1].seq
    else:
        max_seq = await session.scalar(select(func.max(Chunk.seq)).where(Chunk.run_id == run_id))
        last_seq = int(max_seq or 0)
    return LogTail(lines, last_seq, int(run.log_dropped_lines), str(run.status))
