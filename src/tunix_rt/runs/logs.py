"""LogWriter: a run's output lines into run_log_chunks (batched, capped) and logs/output.log.

Invariants:
- seq is gap-free per run across attempts: a writer starts after the run's highest seq.
- The database keeps the newest lines within `cap_bytes`; older ones are deleted, counted in
  runs.log_dropped_lines. Stored seqs stay one contiguous range, so a reader that asks for a
  seq below the first stored one knows exactly how many lines it missed.
- The file gets every line up to `file_cap_bytes`, then one marker line. A write error on
  the file (a full disk) is recorded in `store_error` and reported once through
  `on_store_error`; lines still go to the database.
- A flush is one transaction (counters + delete + insert + NOTIFY); when it fails (database
  restart) the batch stays buffered and is retried; before a retry the writer re-reads the
  highest stored seq, so a commit whose acknowledgement was lost is not written twice.
- Fencing: with `fence`, the counters UPDATE that opens each flush is guarded by the attempt's
  fence (queue.update_run_fields). A refused flush writes nothing, sets `lease_lost`, drops
  the buffer (those lines belong to an attempt that no longer owns the run) and calls
  `on_lease_lost`; the writer then stops writing to the database.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt import errors
from tunix_rt.db import bulk, models
from tunix_rt.db.types import utcnow
from tunix_rt.runs import notify, queue
from tunix_rt.runs.notify import Hub, Notice

RETRY_DELAY_S = 0.5
MAX_LINE_BYTES = 16 * 1024
MAX_BACKLOG_FLUSHES = 20  # feeders wait while more than this many batches are pending
CLOSE_RETRY_FOR_S = 30.0  # without an owner's deadline (no fence), how long close retries

log = logging.getLogger(__name__)
Chunk = models.RunLogChunk


@dataclass
class Line:
    seq: int
    stream: str
    text: str
    nbytes: int


async def insert_lines(
    session: AsyncSession, run_id: uuid.UUID, lines: list[Line], now: datetime
) -> None:
    """Insert log rows in the session's transaction (db/bulk: COPY on PostgreSQL, several
    times faster than a multi-row INSERT for thousands of short rows, with the deadline
    and dead-connection watch every COPY gets; executemany on SQLite)."""
    rows = [
        {
            "run_id": run_id,
            "seq": line.seq,
            "stream": line.stream,
            "text": line.text,
            "created_at": now,
        }
        for line in lines
    ]
    await bulk.insert_rows(session, Chunk.__table__, rows)


class LogWriter:
    """Collect lines from a run's streams; flush every `flush_lines` lines or `flush_ms`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        hub: Hub | None,
        run_id: uuid.UUID,
        log_path: Path,
        *,
        cap_bytes: int,
        flush_lines: int,
        flush_ms: int,
        tail_lines: int,
        on_persisted: Callable[[int], None] | None = None,
        fence: int | None = None,
        file_cap_bytes: int | None = None,
        on_lease_lost: Callable[[], None] | None = None,
        on_store_error: Callable[[OSError], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._hub = hub
        self.run_id = run_id
        self._log_path = log_path
        self._cap_bytes = cap_bytes
        self._flush_lines = flush_lines
        self._flush_s = flush_ms / 1000
        self._on_persisted = on_persisted
        self._fence = fence
        self._file_cap_bytes = file_cap_bytes
        self._file_bytes = 0
        self._on_lease_lost = on_lease_lost
        self._on_store_error = on_store_error
        self.lease_lost = False
        self.store_error: OSError | None = None
        self._pending: list[Line] = []
        # (seq, nbytes) of lines stored in the database, oldest first: drives the byte cap.
        self._stored: collections.deque[tuple[int, int]] = collections.deque()
        self._stored_bytes = 0
        self._tails = {
            "stdout": collections.deque[str](maxlen=tail_lines),
            "stderr": collections.deque[str](maxlen=tail_lines),
        }
        self._partial = {"stdout": b"", "stderr": b""}
        self._next_seq = 1
        self.total_lines = 0
        self.total_bytes = 0
        self.dropped_lines = 0
        self._file: BinaryIO | None = None
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._failed = False
        self._closing = False
        self._room = asyncio.Event()  # set while the backlog is below MAX_BACKLOG_FLUSHES
        self._room.set()

    async def open(self) -> None:
        """Resume numbering after the run's stored lines (a requeued attempt appends)."""
        await self._load_stored()
        try:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._log_path.open("ab")
            self._file_bytes = self._file.tell()
        except OSError as exc:
            self._store_failed(exc)
        self._flusher = asyncio.create_task(self._flush_periodically(), name="log-flusher")

    async def _load_stored(self) -> int:
        """Read what the database holds (stored seqs, run counters); return the top seq."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(Chunk.seq, func.length(Chunk.text))
                    .where(Chunk.run_id == self.run_id)
                    .order_by(Chunk.seq)
                )
            ).all()
            run = await queue.read_run(session, self.run_id)
        self._stored = collections.deque((int(seq), int(n) + 1) for seq, n in rows)
        self._stored_bytes = sum(n for _, n in self._stored)
        # The counters are written in the same transaction as the chunks: authoritative.
        self.total_lines, self.total_bytes = run.log_lines, run.log_bytes
        self.dropped_lines = run.log_dropped_lines
        top = int(rows[-1][0]) if rows else run.log_lines
        if not self._pending:
            self._next_seq = top + 1
        return top

    def feed(self, stream: str, data: bytes) -> None:
        """Append raw bytes read from a stream; complete lines are queued, the rest kept."""
        self._write_file(data)
        buf = self._partial[stream] + data
        parts = buf.split(b"\n")
        rest = parts.pop()
        while len(rest) > MAX_LINE_BYTES:  # a huge line without newline: cut it
            parts.append(rest[:MAX_LINE_BYTES])
            rest = rest[MAX_LINE_BYTES:]
        self._partial[stream] = rest
        for raw in parts:
            # A long line that arrived whole is cut the same way as one that arrived in parts.
            for start in range(0, max(len(raw), 1), MAX_LINE_BYTES):
                self._add_line(stream, raw[start : start + MAX_LINE_BYTES])
        if len(self._pending) >= self._flush_lines:
            self._wake.set()
        if len(self._pending) > self._flush_lines * MAX_BACKLOG_FLUSHES:
            self._room.clear()

    def _write_file(self, data: bytes) -> None:
        if self._file is None:
            return
        cap = self._file_cap_bytes
        try:
            if cap is not None and self._file_bytes + len(data) > cap:
                self._file.write(
                    f"\n[tunix-rt: log file cap of {cap} bytes reached; later lines are "
                    "kept in the database only (its newest lines, within its own cap)]\n".encode()
                )
                self._file.close()
                self._file = None
                return
            self._file.write(data)
            self._file_bytes += len(data)
        except OSError as exc:
            self._store_failed(exc)

    def _store_failed(self, exc: OSError) -> None:
        """Stop writing the file; the first error is kept and reported once."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        if self.store_error is None:
            self.store_error = exc
            log.error("run %s: cannot write its log file: %s", self.run_id, exc)
            if self._on_store_error is not None:
                self._on_store_error(exc)

    async def wait_for_room(self) -> None:
        """Backpressure for feeders that can wait (a tailed file keeps the bytes meanwhile)."""
        await self._room.wait()

    def _add_line(self, stream: str, raw: bytes) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        text = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        self._pending.append(Line(self._next_seq, stream, text, len(raw) + 1))
        self._next_seq += 1
        self._tails[stream].append(text)

    def end_stream(self, stream: str) -> None:
        """The stream hit EOF: a last line without a newline still counts."""
        if self._partial[stream]:
            self._write_file(b"\n")
            self._add_line(stream, self._partial[stream])
            self._partial[stream] = b""

    async def _flush_periodically(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_s)
            self._wake.clear()
            try:
                await self.flush()
            except errors.LeaseLost:
                return
            except Exception as exc:  # the database went away: keep the batch, retry
                log.warning("log flush for run %s failed, will retry: %s", self.run_id, exc)
                self._failed = True
                await asyncio.sleep(RETRY_DELAY_S)

    async def flush(self) -> None:
        """Store the buffered lines. Raises errors.LeaseLost once the attempt is fenced off."""
        async with self._lock:
            if self._file is not None:
                try:
                    self._file.flush()
                except OSError as exc:
                    self._store_failed(exc)
            if self.lease_lost:
                raise errors.LeaseLost(f"run {self.run_id}: this attempt no longer owns it")
            if not self._pending:
                return
            if self._failed:
                await self._forget_committed()
            batch = list(self._pending)
            try:
                await self._write_batch(batch)
            except errors.LeaseLost:
                self._fenced_off()
                raise
            del self._pending[: len(batch)]
            self._failed = False
            if len(self._pending) <= self._flush_lines * MAX_BACKLOG_FLUSHES:
                self._room.set()

    async def _forget_committed(self) -> None:
        """After a failed flush: drop buffered lines whose commit did land after all."""
        top = await self._load_stored()
        committed = sum(1 for line in self._pending if line.seq <= top)
        if committed:
            if self._on_persisted is not None:
                self._on_persisted(committed)
            self._pending = self._pending[committed:]

    def _plan(self, batch: list[Line]) -> tuple[list[Line], int, list[tuple[int, int]]]:
        """Which lines to insert, the seq below which to delete, and the new stored list."""
        stored = list(self._stored)
        total = self._stored_bytes
        for line in batch:
            stored.append((line.seq, line.nbytes))
            total += line.nbytes
        cut = 0
        while total > self._cap_bytes and cut < len(stored) - 1:
            total -= stored[cut][1]
            cut += 1
        kept = stored[cut:]
        first_kept = kept[0][0] if kept else self._next_seq
        return [line for line in batch if line.seq >= first_kept], first_kept, kept

    async def _write_batch(self, batch: list[Line]) -> None:
        to_insert, first_kept, kept = self._plan(batch)
        dropped = sum(1 for seq, _ in self._stored if seq < first_kept) + (
            len(batch) - len(to_insert)
        )
        now = utcnow()
        async with self._sessions() as session:
            # The counters go first: that UPDATE is the attempt's fencing guard, and it holds
            # the run row's lock until commit, so nothing below lands for an attempt that
            # lost the run (and the COPY runs inside the transaction it opened).
            await queue.update_run_fields(
                session,
                self.run_id,
                fence=self._fence,
                log_lines=self.total_lines + len(batch),
                log_bytes=self.total_bytes + sum(line.nbytes for line in batch),
                log_dropped_lines=self.dropped_lines + dropped,
                stdout_tail="\n".join(self._tails["stdout"]),
                stderr_tail="\n".join(self._tails["stderr"]),
                updated_at=now,
            )
            if self._stored and self._stored[0][0] < first_kept:
                await session.execute(
                    delete(Chunk).where(Chunk.run_id == self.run_id, Chunk.seq < first_kept)
                )
            if to_insert:
                await insert_lines(session, self.run_id, to_insert, now)
            notice = Notice("log", str(self.run_id))
            await notify.publish(session, self._hub, notice)
            await session.commit()
        self._stored = collections.deque(kept)
        self._stored_bytes = sum(n for _, n in kept)
        self._apply_counters(batch, dropped)
        if self._hub is not None:
            self._hub.publish_local(notice)

    def _fenced_off(self) -> None:
        self.lease_lost = True
        self._pending.clear()
        self._room.set()  # feeders must not wait on a buffer nobody drains
        log.warning("run %s: log write refused, the attempt no longer owns the run", self.run_id)
        if self._on_lease_lost is not None:
            self._on_lease_lost()

    def _apply_counters(self, batch: list[Line], dropped: int) -> None:
        self.total_lines += len(batch)
        self.total_bytes += sum(line.nbytes for line in batch)
        self.dropped_lines += dropped
        if self._on_persisted is not None:
            self._on_persisted(len(batch))

    async def close(self, keep_trying: Callable[[], bool] | None = None) -> bool:
        """Flush everything, retrying through a database outage while `keep_trying()` (the
        attempt still owns the run; default: for CLOSE_RETRY_FOR_S); stop the flusher.
        Returns True when every line is stored.

        A database call that hangs (a connection killed mid-COPY waits for its deadline) is
        not cancelled but no longer waited for once `keep_trying()` turns False: the caller
        must never hang on a dead connection."""
        self.end_stream("stdout")
        self.end_stream("stderr")
        if keep_trying is None:
            deadline = asyncio.get_running_loop().time() + CLOSE_RETRY_FOR_S

            def keep_trying() -> bool:
                return asyncio.get_running_loop().time() < deadline

        drain = asyncio.create_task(self._drain(keep_trying), name=f"log-close-{self.run_id}")
        while True:
            done, _ = await asyncio.wait({drain}, timeout=RETRY_DELAY_S)
            if done:
                return drain.result()
            if not keep_trying():
                log.error("run %s: a log flush is hanging; giving up on it", self.run_id)
                return False

    async def _drain(self, keep_trying: Callable[[], bool]) -> bool:
        if self._flusher is not None:
            # Never cancel a flush mid-statement (a cancelled aiosqlite call can leave its
            # connection holding the write lock): ask the flusher to finish its pass.
            self._closing = True
            self._wake.set()
            with contextlib.suppress(Exception):
                await self._flusher
            self._flusher = None
        stored = False
        while True:
            try:
                await self.flush()
                stored = True
                break
            except errors.LeaseLost:
                break
            except Exception as exc:
                self._failed = True
                if not keep_trying():
                    log.error("giving up flushing logs of run %s: %s", self.run_id, exc)
                    break
                await asyncio.sleep(RETRY_DELAY_S)
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:  # the final flush of buffered bytes hit a full disk
                self._file = None
                self._store_failed(exc)
            self._file = None
        return stored

    @property
    def stderr_tail(self) -> list[str]:
        return list(self._tails["stderr"])
