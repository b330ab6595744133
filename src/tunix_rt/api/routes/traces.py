"""Routes: traces (store, bulk import, generate, list, read, score, compare, delete)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from pydantic import AfterValidator, BaseModel

from tunix_rt.api.deps import Context, Session
from tunix_rt.db.types import utcnow
from tunix_rt.traces import batch, chunked, compare, generators, scoring, store
from tunix_rt.traces.body_limit import MAX_BATCH_TRACES
from tunix_rt.traces.schema import (
    BatchCreated,
    GenerateRequest,
    GenerateResult,
    Pagination,
    Score,
    ScoreRequest,
    Trace,
    TraceComparison,
    TraceCreated,
    TracePayload,
    TraceSummary,
    check_optional_text,
    check_query_time,
)

router = APIRouter(tags=["traces"])
GENERATE_CHUNK = 5_000

QueryTime = Annotated[datetime | None, Query(), AfterValidator(check_query_time)]
# NUL cannot be sent to PostgreSQL even as a query parameter: reject it as a 422.
QueryText = Annotated[str | None, Query(max_length=255), AfterValidator(check_optional_text)]


class TracePage(BaseModel):
    data: list[TraceSummary]
    pagination: Pagination


@router.post("/api/traces", status_code=201, response_model=TraceCreated)
async def create_trace(payload: TracePayload, session: Session, ctx: Context) -> TraceCreated:
    created_at = utcnow()
    (trace_id,) = await store.insert_traces(session, [payload], created_at=created_at)
    await session.commit()
    ctx.metrics.traces_ingested.inc()
    return TraceCreated(id=trace_id, created_at=created_at, trace_version=payload.trace_version)


BATCH_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_BATCH_TRACES,
                    "items": {"$ref": "#/components/schemas/TracePayload"},
                }
            }
        },
    }
}


@router.post(
    "/api/traces/batch",
    status_code=201,
    response_model=BatchCreated,
    openapi_extra=BATCH_BODY_SCHEMA,
)
async def create_trace_batch(
    items: Annotated[list[Any], Body(min_length=1, max_length=MAX_BATCH_TRACES)],
    session: Session,
    ctx: Context,
) -> BatchCreated:
    """Store up to 10,000 traces in one transaction; one invalid item rejects them all."""
    payloads = batch.validate_batch(items, ctx.settings.trace_max_bytes)
    ids = await store.insert_trace_dicts(session, payloads)
    await session.commit()
    ctx.metrics.traces_ingested.inc(len(ids))
    return BatchCreated(created=len(ids), ids=ids)


@router.post("/api/traces/generate", status_code=201, response_model=GenerateResult)
async def generate_traces(body: GenerateRequest, session: Session, ctx: Context) -> GenerateResult:
    """Generate and store traces in chunks (bounded memory), each committed on its own so
    no write holds SQLite's lock for long; a failure removes the chunks already stored."""
    traces = generators.iter_traces(body.task, body.count, body.seed)
    created = await chunked.insert_in_chunks(session, traces, GENERATE_CHUNK)
    ctx.metrics.traces_ingested.inc(created)
    return GenerateResult(created=created, task=body.task, seed=body.seed)


@router.get("/api/traces", response_model=TracePage)
async def list_traces(
    session: Session,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    source: QueryText = None,
    task: QueryText = None,
    created_after: QueryTime = None,
    created_before: QueryTime = None,
    include_model_outputs: Annotated[
        bool,
        Query(description="Also list model outputs (source run:<id>); implied by `source`."),
    ] = False,
) -> TracePage:
    rows = await store.list_traces(
        session,
        limit=limit + 1,
        offset=offset,
        source=source,
        task=task,
        created_after=created_after,
        created_before=created_before,
        include_model_outputs=include_model_outputs,
    )
    more = len(rows) > limit
    return TracePage(
        data=rows[:limit],
        pagination=Pagination(
            limit=limit, offset=offset, next_offset=offset + limit if more else None
        ),
    )


@router.get("/api/traces/compare", response_model=TraceComparison)
async def compare_traces(base: uuid.UUID, other: uuid.UUID, session: Session) -> TraceComparison:
    return await compare.compare_traces(session, base, other)


@router.get("/api/traces/{trace_id}", response_model=Trace)
async def read_trace(trace_id: uuid.UUID, session: Session) -> Trace:
    return await compare.read_trace(session, trace_id)


@router.delete("/api/traces/{trace_id}", status_code=204)
async def delete_trace(trace_id: uuid.UUID, session: Session) -> Response:
    await store.delete_trace(session, trace_id)
    await session.commit()
    return Response(status_code=204)


@router.post("/api/traces/{trace_id}/score", status_code=201, response_model=Score)
async def score_trace(trace_id: uuid.UUID, body: ScoreRequest, session: Session) -> Score:
    score = await scoring.score_trace(session, trace_id, body.criteria)
    await session.commit()
    return score
