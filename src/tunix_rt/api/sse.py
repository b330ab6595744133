"""The live log stream of one run as Server-Sent Events.

Each connection replays the run's status history and metric points, then sends log lines
after `since_seq`, then follows the run until it is terminal and ends with `end`.

How it waits: a round reads the database in a short session (no connection is held while
idle), sends what is new, then waits on the notify hub for this run with a bounded timeout
and re-reads. On PostgreSQL notices arrive by LISTEN/NOTIFY from any process; on SQLite only
in-process writers notify, so the timeout is short there (a poll) until a `log` notice proves
an in-process writer exists. Notices are hints: every wake re-reads by seq, so duplicated or
lost notices never duplicate or lose a line.

Ordering invariant for `end`: after a round observes a terminal status, the stream drains
the log table once more in a fresh session (a new snapshot, read after the status) before
sending `end`. The worker flushes every line before the final transition, so nothing
committed before the terminal status can be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import uuid
import weakref
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from tunix_rt import errors
from tunix_rt.api.context import AppContext
from tunix_rt.runs import logfanout, logstream, notify, registry, states
from tunix_rt.runs.notify import Subscription

SQLITE_POLL_S = 0.15
NOTIFY_RECHECK_S = 1.0
METRIC_RECHECK_S = 1.0
STATUS_RECHECK_S = 1.0
STATUS_KINDS = frozenset({"start", "status", "reconnected", "enqueued"})
# Delivered to every stream by the server when it begins shutting down (cli/server.py).
STOPPING = notify.STOPPING
METRIC_PAGE_ROWS = 5_000
RETRY_MS = 1_000

log = logging.getLogger(__name__)


def format_event(event: str, data: Any, event_id: int | None = None) -> str:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {body}\n\n"


class EventStreamResponse(StreamingResponse):
    """StreamingResponse that always watches for the client going away.

    Starlette skips the disconnect listener for ASGI spec >= 2.4 and only notices a gone
    client at the next send; an idle stream would then hold its subscription until the next
    heartbeat. Here the stream is cancelled (and its generator closed) the moment the
    client disconnects, whatever the server's spec version.
    """

    def __init__(self, content: AsyncGenerator[str | bytes, None], headers: dict[str, str]) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._content = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def run_stream() -> None:
                try:
                    await self.stream_response(send)
                except OSError:
                    pass  # the client went away mid-send
                finally:
                    with anyio.CancelScope(shield=True):
                        await self._content.aclose()
                    group.cancel_scope.cancel()

            group.start_soon(run_stream)
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()


@dataclass
class _Cursor:
    last_seq: int
    last_event_id: int = 0
    last_step: int | None = None
    status_key: tuple[str, int] | None = None
    status: str | None = None
    metrics_checked_at: float = 0.0
    status_checked_at: float = 0.0
    chunks: list[str | bytes] = field(default_factory=list)


async def _probe_status(ctx: AppContext, run_id: uuid.UUID) -> tuple[str, int] | None:
    async with ctx.sessions() as session:
        try:
            status = await registry.read_status(session, run_id)
        except errors.NotFound:
            return None
    return status.status, status.attempt


async def _read_status(
    ctx: AppContext, fanout: logfanout.LogFanout, run_id: uuid.UUID, cur: _Cursor, gen: int
) -> bool:
    """Send new status events; False when the run no longer exists."""
    key = await fanout.share(("status", run_id), run_id, gen, lambda: _probe_status(ctx, run_id))
    if key is None:
        return False
    if key != cur.status_key:
        async with ctx.sessions() as session:
            events = await registry.list_events(session, run_id, after_id=cur.last_event_id)
        for event_id, event in events:
            cur.last_event_id = event_id
            data = {"status": event.to_status, "attempt": event.attempt, "reason": event.reason}
            cur.chunks.append(format_event("status", data))
        cur.status_key = key
    cur.status = key[0]
    return True


async def _probe_metrics(
    ctx: AppContext, run_id: uuid.UUID, after_step: int | None
) -> list[tuple[str, int, float]]:
    async with ctx.sessions() as session:
        return await registry.list_metrics(
            session, run_id, after_step=after_step, limit=METRIC_PAGE_ROWS
        )


async def _read_metrics(
    ctx: AppContext, fanout: logfanout.LogFanout, run_id: uuid.UUID, cur: _Cursor, gen: int
) -> None:
    cur.metrics_checked_at = asyncio.get_running_loop().time()
    while True:
        after = cur.last_step
        probe = functools.partial(_probe_metrics, ctx, run_id, after)
        rows = await fanout.share(("metrics", run_id, after), run_id, gen, probe)
        full = len(rows) == METRIC_PAGE_ROWS
        if full and rows[0][1] != rows[-1][1]:
            # The page may have cut the last step's values in half: keep it for the next page.
            last = rows[-1][1]
            rows = [r for r in rows if r[1] != last]
        steps: dict[int, dict[str, float]] = {}
        for name, step, value in rows:
            steps.setdefault(step, {})[name] = value
        for step, values in steps.items():
            cur.chunks.append(format_event("metric", {"step": step, "values": values}))
            cur.last_step = step
        if not full:
            return


def render_page(page: logstream.LogPage, after_seq: int) -> bytes:
    """A page as SSE text: `truncated` first when the cap dropped lines, then `log` events."""
    parts = []
    if page.dropped:
        data = {"dropped": page.dropped, "resume_seq": page.lines[0].seq}
        parts.append(format_event("truncated", data))
    for line in page.lines:
        line_data = {"seq": line.seq, "stream": line.stream, "text": line.text}
        parts.append(format_event("log", line_data, event_id=line.seq))
    return "".join(parts).encode()


# One fan-out per app (keyed by its engine), created on first use.
_FANOUTS: weakref.WeakKeyDictionary[Any, logfanout.LogFanout] = weakref.WeakKeyDictionary()


def _fanout(ctx: AppContext) -> logfanout.LogFanout:
    fanout = _FANOUTS.get(ctx.engine)
    if fanout is None:
        fanout = logfanout.LogFanout(ctx.sessions, ctx.hub, render_page)
        _FANOUTS[ctx.engine] = fanout
    return fanout


async def _read_logs(
    fanout: logfanout.LogFanout, run_id: uuid.UUID, cur: _Cursor, generation: int
) -> bool:
    """Queue one page of log lines; True when more may be waiting (read again at once)."""
    shared = await fanout.read(run_id, cur.last_seq, generation)
    if shared.page.last_seq is None:
        return False
    cur.chunks.append(shared.data)
    cur.last_seq = shared.page.last_seq
    # A cached page may predate this wake-up: lines after it may already be waiting.
    return len(shared.page.lines) == logstream.PAGE_LINES or shared.generation < generation


def _take(cur: _Cursor, tail: str = "") -> bytes:
    """Everything queued as one body chunk; a shared page is sent as its bytes, uncopied."""
    if tail:
        cur.chunks.append(tail)
    parts = [c if isinstance(c, bytes) else c.encode() for c in cur.chunks]
    cur.chunks.clear()
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def _follow(
    ctx: AppContext,
    fanout: logfanout.LogFanout,
    sub: Subscription,
    run_id: uuid.UUID,
    since_seq: int,
) -> AsyncGenerator[str | bytes, None]:
    heartbeat_s = ctx.settings.sse_heartbeat_s
    is_sqlite = ctx.settings.database_kind == "sqlite"
    wait_s = SQLITE_POLL_S if is_sqlite else NOTIFY_RECHECK_S
    cur = _Cursor(last_seq=since_seq)
    kinds: set[str] = {"start"}
    clock = asyncio.get_running_loop().time
    yield f"retry: {RETRY_MS}\n\n"
    next_heartbeat = clock() + heartbeat_s
    while True:
        woke_at = clock()
        generation = fanout.observe(run_id)
        # A round woken only by log notices skips the status probe: transitions always
        # notify "status", and a timeout round (no kinds) probes anyway.
        if not kinds or kinds & STATUS_KINDS or woke_at - cur.status_checked_at >= STATUS_RECHECK_S:
            cur.status_checked_at = woke_at
            if not await _read_status(ctx, fanout, run_id, cur, generation):
                yield _take(cur, format_event("end", {"status": None, "reason": "deleted"}))
                return
        if kinds & {"start", "metric", "reconnected"} or (
            woke_at - cur.metrics_checked_at >= METRIC_RECHECK_S
        ):
            await _read_metrics(ctx, fanout, run_id, cur, generation)
        more = await _read_logs(fanout, run_id, cur, generation)
        if cur.status in states.TERMINAL and not more:
            # Final drain: only reads that start after the terminal status was seen.
            generation = fanout.bump(run_id)
            while await _read_logs(fanout, run_id, cur, generation):
                yield _take(cur)
            await _read_metrics(ctx, fanout, run_id, cur, generation)
            yield _take(cur, format_event("end", {"status": cur.status}))
            return
        if cur.chunks:
            yield _take(cur)
        now = clock()
        if now >= next_heartbeat:
            yield format_event("heartbeat", {"ts": datetime.now(UTC).isoformat()})
            next_heartbeat = now + heartbeat_s
        if more:
            kinds = {"more"}
            continue
        woke = await sub.wait(max(0.0, min(wait_s, next_heartbeat - now)))
        kinds = sub.pop_kinds() if woke else set()
        if STOPPING in kinds:
            # The server is shutting down: close without `end` (the run goes on); the client
            # reconnects to another server, or this one once back, and resumes by seq.
            return
        if is_sqlite and "log" in kinds:
            wait_s = NOTIFY_RECHECK_S  # an in-process writer notifies: stop polling


async def stream_run(
    ctx: AppContext, run_id: uuid.UUID, since_seq: int
) -> AsyncGenerator[str | bytes, None]:
    """The event stream of one run (the route has already checked that the run exists)."""
    fanout = _fanout(ctx)
    ctx.metrics.sse_clients.inc()
    try:
        async with ctx.hub.subscribe(run_id) as sub:
            await fanout.attach(run_id)
            try:
                # detach never suspends, so it completes even inside a cancelled scope.
                follow = _follow(ctx, fanout, sub, run_id, since_seq)
                async with contextlib.aclosing(follow) as chunks:
                    async for chunk in chunks:
                        yield chunk
            finally:
                await fanout.detach(run_id)
    except Exception as exc:
        # Headers are sent already; tell the client and close so it reconnects and resumes.
        log.exception("log stream of run %s failed", run_id)
        yield format_event("error", {"detail": f"stream failed: {type(exc).__name__}"})
    finally:
        ctx.metrics.sse_clients.dec()


def stream_headers() -> dict[str, str]:
    return {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
