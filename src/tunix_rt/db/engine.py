"""Engine and session factory. One engine per process, created from Settings.

Every database call has a deadline (see `Deadlines`), so a lost connection or a stuck lock
fails the call instead of hanging it; `outage.install` turns such failures into
errors.Unavailable and discards the connection they happened on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from tunix_rt.db import outage

if TYPE_CHECKING:
    from tunix_rt.settings import Settings

# The client-side deadline of a call is the server's statement deadline plus this, so that
# normally the server cancels first (a clean error, the connection stays usable) and the
# client gives up only when the server cannot answer at all (killed backend, dead network).
COMMAND_GRACE_S = 5.0
# Engine execution option carrying the command deadline to code that calls the driver
# directly (bulk COPY): read it with `command_deadline_s(conn)`.
COMMAND_DEADLINE_OPTION = "tunix_rt_command_deadline_s"


@dataclass(frozen=True)
class Deadlines:
    """Seconds; None means no limit. Defaults match Settings' defaults."""

    statement_s: float | None = 60.0  # PostgreSQL statement_timeout
    command_s: float | None = 60.0 + COMMAND_GRACE_S  # asyncpg command_timeout, bulk COPY
    idle_in_transaction_s: float | None = 600.0  # idle_in_transaction_session_timeout
    connect_s: float = 10.0
    pool_s: float = 10.0  # waiting for a pooled connection
    busy_s: float = 30.0  # SQLite busy timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> Deadlines:
        return cls(
            statement_s=settings.db_statement_timeout_s,
            command_s=settings.db_statement_timeout_s + COMMAND_GRACE_S,
            idle_in_transaction_s=settings.db_idle_in_transaction_timeout_s,
            connect_s=settings.db_connect_timeout_s,
            pool_s=settings.db_pool_timeout_s,
            busy_s=settings.db_busy_timeout_s,
        )


# Migrations may rewrite big tables: no statement deadline, the rest as usual.
MIGRATION_DEADLINES = Deadlines(statement_s=None, command_s=None, idle_in_transaction_s=None)


def _ms(seconds: float | None) -> str:
    return "0" if seconds is None else str(max(1, round(seconds * 1000)))


def create_engine(
    database_url: str, *, deadlines: Deadlines | None = None, **kwargs: Any
) -> AsyncEngine:
    """Create the async engine with deadlines; SQLite gets WAL, a busy timeout and foreign
    keys."""
    limits = deadlines or Deadlines()
    if make_url(database_url).database not in (None, "", ":memory:"):
        kwargs.setdefault("pool_timeout", limits.pool_s)  # in-memory SQLite has no queue
    options = dict(kwargs.pop("execution_options", {}))
    options[COMMAND_DEADLINE_OPTION] = limits.command_s
    connect_args = dict(kwargs.pop("connect_args", {}))
    if database_url.startswith("sqlite"):
        connect_args.setdefault("timeout", limits.busy_s)
        engine = create_async_engine(
            database_url, connect_args=connect_args, execution_options=options, **kwargs
        )
        busy_ms = _ms(limits.busy_s)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        outage.install(engine)
        return engine
    connect_args.setdefault("timeout", limits.connect_s)
    connect_args.setdefault("command_timeout", limits.command_s)
    server_settings = dict(connect_args.pop("server_settings", {}))
    server_settings.setdefault("statement_timeout", _ms(limits.statement_s))
    server_settings.setdefault(
        "idle_in_transaction_session_timeout", _ms(limits.idle_in_transaction_s)
    )
    connect_args["server_settings"] = server_settings
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(
        database_url, connect_args=connect_args, execution_options=options, **kwargs
    )
    outage.install(engine)
    return engine


def command_deadline_s(conn: AsyncConnection) -> float | None:
    """The engine's client-side deadline for one call (None: no limit)."""
    sync = conn.sync_connection
    options = sync.get_execution_options() if sync is not None else {}
    value = options.get(COMMAND_DEADLINE_OPTION, Deadlines().command_s)
    return None if value is None else float(value)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def create_statement_session_factory(
    sessions: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """Sessions for writes that are one atomic statement each (queue claims and transitions).

    On PostgreSQL they run in autocommit: no BEGIN/COMMIT round trips, which more than doubles
    claim throughput. Elsewhere (SQLite) it is the same factory: there a claim is two
    statements and needs its transaction.
    """
    bind = sessions.kw.get("bind")
    if not isinstance(bind, AsyncEngine) or bind.dialect.name != "postgresql":
        return sessions
    return async_sessionmaker(
        bind.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )


def dialect_name(engine: AsyncEngine) -> str:
    return engine.dialect.name
