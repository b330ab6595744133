"""Test harness: the same suite on a temporary SQLite file and on a real PostgreSQL.

Fixtures:
- `database_url`: parametrised over sqlite/postgresql, a fresh migrated database per session.
- `settings`: Settings on a temporary home pointing at that database.
- `sessions`: an async session factory; tables are emptied after every test that uses it.
- `client`: an httpx.AsyncClient on create_app(settings) (lifespan run, no embedded worker).
- `make_client`: build a client with overridden settings (e.g. an API token).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests import pg
from tunix_rt.db import engine as db_engine
from tunix_rt.db import migrate
from tunix_rt.db.models import Base
from tunix_rt.settings import Settings

BACKENDS = ("sqlite", "postgresql")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# One JAX compilation cache for every training child of the session (both xdist processes,
# the workers' children through Settings, the tests' own children): the tiny models compile
# the same programs in dozens of tests. JAX reads an entry another process is still writing
# as a miss (it warns and compiles), so sharing is safe.
JAX_CACHE_ENV = "TUNIX_RT_JAX_CACHE_DIR"
_OWN_JAX_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    # The xdist controller runs this before it starts its processes, which inherit the env.
    if not os.environ.get(JAX_CACHE_ENV):
        _OWN_JAX_CACHE.append(tempfile.mkdtemp(prefix="tunix-rt-tests-jax-cache-"))
        os.environ[JAX_CACHE_ENV] = _OWN_JAX_CACHE[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _OWN_JAX_CACHE:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg.PgServer]:
    server, why = pg.find_server()
    if server is None:
        message = f"PostgreSQL is not available: {why}"
        if IN_CI:
            pytest.fail(message + " (CI requires the PostgreSQL half)", pytrace=False)
        pytest.skip(message)
    yield server
    server.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        asyncio.run(migrate.upgrade_database(url))
        yield url
        return
    server: pg.PgServer = request.getfixturevalue("pg_server")
    url = pg.create_database(server.admin_url)
    asyncio.run(migrate.upgrade_database(url))
    yield url
    pg.drop_database(server.admin_url, url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        heartbeat_interval_s=0.5,
        lease_s=15,  # renew deadline 11 s: no false lease loss on a loaded 2-core machine
        reaper_interval_s=0.5,
        poll_interval_s=0.1,
        cancel_grace_s=2,
        allowed_hosts=["testserver"],  # httpx's ASGI client sends Host: testserver
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = db_engine.create_engine(database_url)
    yield eng
    await empty_tables(eng)
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return db_engine.create_session_factory(engine)


async def empty_tables(eng: AsyncEngine) -> None:
    async with eng.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(delete(table))


@asynccontextmanager
async def app_client(settings: Settings, **app_kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    from tunix_rt.api.app import create_app

    app = create_app(settings, migrate_db=False, **app_kwargs)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c
    eng = db_engine.create_engine(settings.database_url)
    try:
        await empty_tables(eng)
    finally:
        await eng.dispose()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings) as c:
        yield c


@pytest.fixture
def make_client(
    settings: Settings,
) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    def factory(**overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        app_kwargs = overrides.pop("app_kwargs", {})
        return app_client(settings.model_copy(update=overrides), **app_kwargs)

    return factory
