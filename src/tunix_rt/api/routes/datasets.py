"""Routes: datasets (build, preview, list, read, streamed export)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel

from tunix_rt.api.context import AppContext
from tunix_rt.api.deps import Context, Session
from tunix_rt.datasets import build, store
from tunix_rt.datasets.schema import BuildRequest, Manifest, PreviewRequest, PreviewResult
from tunix_rt.traces.schema import Pagination, check_text

router = APIRouter(tags=["datasets"])
DatasetKey = Annotated[str, Path(min_length=1, max_length=300), AfterValidator(check_text)]


class DatasetPage(BaseModel):
    data: list[Manifest]
    pagination: Pagination


@router.post("/api/datasets/build", status_code=201, response_model=Manifest)
async def build_dataset(body: BuildRequest, session: Session) -> Manifest:
    row = await build.build_dataset(session, body)
    await session.commit()
    return store.manifest_of(row)


@router.post("/api/datasets/preview", response_model=PreviewResult)
async def preview_dataset(body: PreviewRequest, session: Session) -> PreviewResult:
    return PreviewResult(trace_count=await build.count_selection(session, body))


@router.get("/api/datasets", response_model=DatasetPage)
async def list_datasets(
    session: Session,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> DatasetPage:
    rows = await store.list_datasets(session, limit=limit + 1, offset=offset)
    more = len(rows) > limit
    return DatasetPage(
        data=[store.manifest_of(r) for r in rows[:limit]],
        pagination=Pagination(
            limit=limit, offset=offset, next_offset=offset + limit if more else None
        ),
    )


@router.get("/api/datasets/{key}", response_model=Manifest)
async def read_dataset(key: DatasetKey, session: Session) -> Manifest:
    return store.manifest_of(await store.read_dataset(session, key))


async def stream_export(ctx: AppContext, key: str, fmt: str, split: str) -> AsyncIterator[bytes]:
    """One chunk per page of lines: one ASGI message per line would dominate the cost.

    Uses its own session: the request's session may be closed once the response starts.
    """
    async with ctx.sessions() as session:
        async for page in store.iter_export_pages(session, key, fmt=fmt, split=split):
            if page:
                yield "".join(page).encode()


@router.get(
    "/api/datasets/{key}/export.jsonl",
    status_code=200,
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "JSONL"}},
)
async def export_dataset(
    key: DatasetKey,
    session: Session,
    ctx: Context,
    format: Literal["trace", "tunix_sft", "training_example", "chat"] = "trace",
    split: Literal["train", "holdout", "all"] = "all",
) -> StreamingResponse:
    dataset = await store.read_dataset(session, key)  # 404 before the stream starts
    filename = f"{dataset.key}-{split}.{format}.jsonl"
    return StreamingResponse(
        stream_export(ctx, key, format, split),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
