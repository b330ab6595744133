"""What a running server holds: settings, the engine, a session factory, the notify hub."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tunix_rt.api.metrics import Metrics
from tunix_rt.runs.notify import Hub
from tunix_rt.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    hub: Hub
    metrics: Metrics
    # Background services started by the server (embedded workers, reaper); stopped at shutdown.
    services: list[Any] = field(default_factory=list)
    # Called before /metrics renders, to refresh gauges from the database (they never raise).
    metrics_refreshers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
