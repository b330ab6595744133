"""Reading a run's log lines from run_log_chunks: pages after a seq, the tail, truncation.

Invariant relied on: the LogWriter gives every run gap-free seqs starting at 1 and commits
them in order, and the byte cap only deletes the OLDEST rows. So the rows a reader sees
after seq N are always N+1, N+2, ... unless the cap removed some, in which case the first
row returned is > N+1 and the difference is exactly the number of lines this reader lost.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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


@dataclass(frozen=True)
class SharedPage:
    page: LogPage
    data: bytes  # the page rendered and encoded once (e.g. as SSE events) for every reader
    started_at: float  # loop time when the database read began


class SharedPageReader:
    """One database read and one rendering per (run, after_seq), however many streams ask.

    A hundred streams on one run wake on the same notice and ask for the same page; they
    share a single in-flight read. Freshness rule: a caller passes `not_before` (when it
    woke) and only joins a read that started at or after it, so it never misses lines
    committed before its wake-up. Completed non-empty pages stay valid forever (lines never
    change once written) and are kept in a byte-bounded LRU; empty pages are never kept.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        render: Callable[[LogPage, int], bytes],
        *,
        max_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self._sessions = sessions
        self._render = render
        self._max_bytes = max_bytes
        self._inflight: dict[tuple[uuid.UUID, int], tuple[float, asyncio.Task[SharedPage]]] = {}
        self._done: OrderedDict[tuple[uuid.UUID, int], SharedPage] = OrderedDict()
        self._bytes = 0

    async def read(self, run_id: uuid.UUID, after_seq: int, not_before: float) -> SharedPage:
        """The page after `after_seq`, read at or after loop time `not_before` if not cached."""
        key = (run_id, after_seq)
        cached = self._done.get(key)
        if cached is not None:
            self._done.move_to_end(key)
            return cached
        entry = self._inflight.get(key)
        if entry is None or entry[0] < not_before:
            started = asyncio.get_running_loop().time()
            task = asyncio.get_running_loop().create_task(self._read(run_id, after_seq, started))
            entry = (started, task)
            self._inflight[key] = entry
            task.add_done_callback(functools.partial(self._finish, key))
        # shield: a client that disconnects must not cancel the read other streams share.
        return await asyncio.shield(entry[1])

    async def _read(self, run_id: uuid.UUID, after_seq: int, started: float) -> SharedPage:
        async with self._sessions() as session:
            page = await read_lines_after(session, run_id, after_seq)
        return SharedPage(page, self._render(page, after_seq), started)

    def _finish(self, key: tuple[uuid.UUID, int], task: asyncio.Task[SharedPage]) -> None:
        entry = self._inflight.get(key)
        if entry is not None and entry[1] is task:
            del self._inflight[key]
        if task.cancelled() or task.exception() is not None:
            return
        shared = task.result()
        if not shared.page.lines or key in self._done:
            return
        self._done[key] = shared
        self._bytes += len(shared.data)
        while self._bytes > self._max_bytes and self._done:
            _key, old = self._done.popitem(last=False)
            self._bytes -= len(old.data)
