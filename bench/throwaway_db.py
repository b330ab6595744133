"""Throwaway databases for benches: a fresh PostgreSQL database (dropped after) or SQLite."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.db import migrate, models

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(_dsn(ADMIN_URL))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def database(backend: str, home: Path) -> Iterator[str]:
    """An empty database URL for a server that migrates it at start (dropped after)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{home / 'bench.db'}"
        return
    name = f"tunix_rt_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def add_placeholder_dataset(session: AsyncSession, key: str) -> None:
    """An empty dataset row, so runs can be enqueued against `key` (their child ignores it)."""
    if await session.get(models.Dataset, key) is not None:
        return
    session.add(
        models.Dataset(
            key=key,
            name=key.rsplit("-", 1)[0],
            version=key.rsplit("-", 1)[-1],
            filters={},
            selection_strategy="latest",
            trace_count=0,
            train_count=0,
            holdout_count=0,
            content_hash="0" * 64,
        )
    )
