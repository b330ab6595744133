"""What every part of a worker shares: settings, session factories, the hub, fencing counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.db import engine as db_engine
from tunix_rt.runs.notify import Hub
from tunix_rt.settings import Settings


@dataclass
class WorkerContext:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    hub: Hub | None
    # Claims and status transitions are single statements on PostgreSQL: autocommit there.
    statement_sessions: async_sessionmaker[AsyncSession] = field(init=False)
    # Writes refused because their attempt no longer owned the run (each one stopped a child);
    # `on_fenced` also reports each one (the server counts them in /metrics).
    fenced_writes: int = 0
    on_fenced: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.statement_sessions = db_engine.create_statement_session_factory(self.sessions)
