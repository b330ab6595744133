"""Routes: a run's live log stream (SSE) and its log snapshot for first paint."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel

from tunix_rt import errors
from tunix_rt.api import sse
from tunix_rt.api.deps import Context, Session
from tunix_rt.runs import logstream, registry

router = APIRouter(prefix="/api/tunix/runs", tags=["runs"])

MAX_SEQ = 2**62


class LogLineOut(BaseModel):
    seq: int
    stream: str
    text: str


class LogSnapshot(BaseModel):
    run_id: uuid.UUID
    lines: list[LogLineOut]
    last_seq: int
    dropped_lines: int
    status: str


def _parse_last_event_id(value: str | None) -> int:
    if value is None or not value.strip():
        return 0
    try:
        seq = int(value.strip())
    except ValueError:
        raise errors.ValidationFailed("Last-Event-ID must be a log seq (an integer)") from None
    if not 0 <= seq <= MAX_SEQ:
        raise errors.ValidationFailed("Last-Event-ID is out of range")
    return seq


@router.get(
    "/{run_id}/logs",
    status_code=200,  # EventStreamResponse.__init__ has no status_code default: OpenAPI needs it
    response_class=sse.EventStreamResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_run_logs(
    run_id: uuid.UUID,
    ctx: Context,
    since_seq: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> sse.EventStreamResponse:
    """SSE: log/metric/status/truncated/heartbeat events, then `end`. Resume after a seq."""
    # A browser's EventSource reconnects to the original URL with Last-Event-ID: the later
    # of the two positions wins, so resuming never replays lines the client already has.
    after = max(since_seq, _parse_last_event_id(last_event_id))
    async with ctx.sessions() as session:
        await registry.ensure_run_exists(session, run_id)
    return sse.EventStreamResponse(sse.stream_run(ctx, run_id, after), sse.stream_headers())


@router.get("/{run_id}/logs/snapshot", response_model=LogSnapshot)
async def read_run_log_snapshot(
    run_id: uuid.UUID,
    session: Session,
    tail: Annotated[int, Query(ge=0, le=logstream.MAX_TAIL_LINES)] = 200,
) -> LogSnapshot:
    snap = await logstream.read_tail(session, run_id, tail)
    return LogSnapshot(
        run_id=run_id,
        lines=[LogLineOut(seq=x.seq, stream=x.stream, text=x.text) for x in snap.lines],
        last_seq=snap.last_seq,
        dropped_lines=snap.dropped_lines,
        status=snap.status,
    )
