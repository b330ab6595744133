"""Health and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from tunix_rt import __version__
from tunix_rt.api.deps import Context

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    database: str


@router.get("/api/health", response_model=Health)
async def read_health(ctx: Context) -> Health:
    status = "ok"
    try:
        async with ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        status = "degraded"
    return Health(status=status, version=__version__, database=ctx.settings.database_kind)


@router.get("/metrics", include_in_schema=False)
async def read_metrics(ctx: Context) -> Response:
    for refresh in ctx.metrics_refreshers:
        await refresh()
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
