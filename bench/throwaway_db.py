"""Throwaway databases for benches: a fresh PostgreSQL database (dropped after) or SQLite."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from tunix_rt.db import migrate

ADMIN_URL = os.environ.get(
    "TUNIX_RT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@asynccontextmanager
async def throwaway_database(kind: str, tmp: Path) -> AsyncIterator[str]:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        await migrate.upgrade_database(url)
        yield url
        return
    name = f"tunix_rt_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_dsn(ADMIN_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        await migrate.upgrade_database(url)
        yield url
    finally:
        admin = await asyncpg.connect(_dsn(ADMIN_URL))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
