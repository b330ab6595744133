"""The migrated schema equals the ORM metadata, on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from tunix_rt.db import migrate
from tunix_rt.db.models import Base


def _diff(conn: Connection) -> list[Any]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


async def test_migrated_schema_matches_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []


async def test_database_is_at_head(database_url: str) -> None:
    assert await migrate.current_revision(database_url) == migrate.head_revision()


async def test_health_reports_backend(client: Any, backend: str) -> None:
    r = await client.get("/api/health")
    assert r.status_code == 200
    assert r.json()["database"] == backend
    assert r.json()["status"] == "ok"
