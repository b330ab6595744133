"""create_app(settings): wires the context, middleware, error handlers and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tunix_rt import __version__
from tunix_rt.api import body_limit, services, spa
from tunix_rt.api import errors as api_errors
from tunix_rt.api.auth import TokenAuthMiddleware
from tunix_rt.api.body_limit import BodyLimitMiddleware
from tunix_rt.api.context import AppContext
from tunix_rt.api.hosts import HostGuardMiddleware
from tunix_rt.api.metrics import Metrics
from tunix_rt.api.middleware import MetricsMiddleware
from tunix_rt.api.routes import ROUTERS, checkpoints, generate
from tunix_rt.db import engine as db_engine
from tunix_rt.db import migrate
from tunix_rt.runs.notify import Hub
from tunix_rt.settings import Settings


def create_app(
    settings: Settings, *, embedded_workers: int = 0, migrate_db: bool = True
) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate_db:
            await migrate.upgrade_database(settings.database_url)
        settings.artifacts.mkdir(parents=True, exist_ok=True)
        engine = db_engine.create_engine(
            settings.database_url, deadlines=db_engine.Deadlines.from_settings(settings)
        )
        hub = Hub()
        ctx = AppContext(
            settings=settings,
            engine=engine,
            sessions=db_engine.create_session_factory(engine),
            hub=hub,
            metrics=metrics,
        )
        app.state.ctx = ctx
        await hub.start(settings.database_url)
        await services.start_server_services(ctx, embedded_workers=embedded_workers)
        try:
            yield
        finally:
            await services.stop_server_services(ctx)
            await hub.stop()
            await engine.dispose()

    app = FastAPI(title="tunix-rt", version=__version__, lifespan=lifespan)
    api_errors.install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(checkpoints.router)
    app.include_router(generate.router)
    spa.mount_spa(app)
    # Added last runs first: host guard, then auth, then metrics, then the body limit.
    default_limit, route_limits = body_limit.route_limits(settings)
    app.add_middleware(BodyLimitMiddleware, default=default_limit, overrides=route_limits)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if settings.api_token:
        app.add_middleware(TokenAuthMiddleware, token=settings.api_token)
    if not settings.api_token or settings.allowed_hosts:
        app.add_middleware(HostGuardMiddleware, allowed=settings.allowed_hosts)
    return app
