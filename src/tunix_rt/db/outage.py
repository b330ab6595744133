"""Database outages: which driver errors mean "the database cannot serve this now".

They become `errors.Unavailable` (503 + Retry-After from the API) at the data boundary:
`install(engine)` hooks SQLAlchemy's handle_error, so every statement, commit and connect
made through SQLAlchemy raises Unavailable instead of the driver error; bulk COPY (which
talks to asyncpg directly) calls `unavailable_from` itself.

A connection whose state is unknown after an error (a client-side deadline fired mid-call,
the backend was terminated, the socket died) is marked as a disconnect, so SQLAlchemy
invalidates it instead of handing it back to the pool: the next checkout opens a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry

from tunix_rt import errors

RETRY_AFTER_S = 5
RETRY_AFTER_BUSY_S = 2  # SQLite's lock is usually held for seconds, not longer

# SQLSTATEs: the server cancelled or refused the work, or the connection is going away.
STATEMENT_TIMEOUT = "57014"  # query_canceled: statement_timeout, or asyncpg's cancel
IDLE_IN_TRANSACTION_TIMEOUT = "25P03"
LOCK_TIMEOUT = "55P03"
CONNECTION_GONE = frozenset({"57P01", "57P02", "57P03", "53300"})  # shutdown, crash, starting
SQLITE_BUSY_MESSAGES = ("database is locked", "database table is locked")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error, the DBAPI error it wraps, and their causes (bounded: chains can loop)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 16:
        item = todo.pop(0)
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        orig = getattr(item, "orig", None)
        todo.extend([orig if isinstance(orig, BaseException) else None, item.__cause__])


def _sqlstate(exc: BaseException) -> str:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else ""


def _is_closed_connection(exc: BaseException) -> bool:
    name = type(exc).__name__
    if name in ("ConnectionDoesNotExistError", "ConnectionResetError", "BrokenPipeError"):
        return True
    # A kill that lands between two statements: asyncpg has read the server's FATAL error
    # and waits for a ReadyForQuery that never comes, refusing every further operation
    # ("another operation is in progress") until it sees the socket close.
    if name == "InternalClientError":
        return True
    return name == "InterfaceError" and (
        "connection is closed" in str(exc) or "another operation is in progress" in str(exc)
    )


def connection_state_unknown(exc: BaseException) -> bool:
    """True when the connection that raised `exc` must not be reused."""
    for item in _chain(exc):
        state = _sqlstate(item)
        if state.startswith("08") or state in CONNECTION_GONE:
            return True
        if isinstance(item, TimeoutError | OSError) or _is_closed_connection(item):
            return True
    return False


def unavailable_from(exc: BaseException) -> errors.Unavailable | None:
    """The Unavailable error `exc` stands for, or None when it is not an outage."""
    if isinstance(exc, errors.Unavailable):
        return exc
    for item in _chain(exc):
        state = _sqlstate(item)
        if state == STATEMENT_TIMEOUT:
            return errors.Unavailable(
                "a database statement ran past its deadline and was cancelled; "
                "nothing of this request was stored, retry later",
                reason="database_deadline",
            )
        if state == IDLE_IN_TRANSACTION_TIMEOUT:
            return errors.Unavailable(
                "the database ended a transaction left idle past its deadline; retry",
                reason="database_deadline",
            )
        if state == LOCK_TIMEOUT:
            return errors.Unavailable(
                "a database lock was not granted in time; nothing was stored, retry",
                reason="database_busy",
                retry_after_s=RETRY_AFTER_BUSY_S,
            )
        if isinstance(item, sqlite3.OperationalError | sa_exc.OperationalError) and any(
            text in str(item) for text in SQLITE_BUSY_MESSAGES
        ):
            return errors.Unavailable(
                "the database is busy: another write held SQLite's lock longer than "
                "TUNIX_RT_DB_BUSY_TIMEOUT_S; nothing of this request was stored, retry",
                reason="database_busy",
                retry_after_s=RETRY_AFTER_BUSY_S,
            )
        if isinstance(item, TimeoutError):
            return errors.Unavailable(
                "the database did not answer within its deadline; the connection was "
                "dropped and nothing of this request was stored, retry later",
                reason="database_deadline",
            )
        if state.startswith("08") or state in CONNECTION_GONE or _is_closed_connection(item):
            return errors.Unavailable(
                "the database connection was lost during the request; nothing of it was "
                "stored, retry later",
                reason="database_unavailable",
            )
        if isinstance(item, OSError):
            return errors.Unavailable(
                f"cannot reach the database ({type(item).__name__}); retry later",
                reason="database_unavailable",
            )
    if isinstance(exc, sa_exc.TimeoutError):  # the pool's checkout wait
        return errors.Unavailable(
            "every database connection of this server is in use; retry shortly",
            reason="database_busy",
            retry_after_s=RETRY_AFTER_BUSY_S,
        )
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return errors.Unavailable(
            "the database connection was lost during the request; retry later",
            reason="database_unavailable",
        )
    return None


def _on_error(context: ExceptionContext) -> BaseException | None:
    error = context.original_exception
    if not context.is_disconnect and connection_state_unknown(error):
        # Only this connection is suspect (a deadline, one killed backend): do not recycle
        # the whole pool, pre-ping catches the rest if the server really went away.
        context.is_disconnect = True
        context.invalidate_pool_on_disconnect = False
    if context.is_pre_ping:
        # A failed pre-ping on a dead pooled connection is not the request's failure: the
        # pool replaces the connection when the error stays a disconnect DBAPIError.
        return None
    return unavailable_from(error)


def _connect(
    dialect: Dialect, _record: ConnectionPoolEntry, cargs: Any, cparams: Any
) -> DBAPIConnection:
    # Socket-level failures at connect are not DBAPI errors, so handle_error never sees them.
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:  # refused, unreachable, or no answer within the connect timeout
        unavailable = unavailable_from(exc)
        assert unavailable is not None
        raise unavailable from exc


def install(engine: AsyncEngine) -> None:
    event.listen(engine.sync_engine, "handle_error", _on_error)
    event.listen(engine.sync_engine, "do_connect", _connect)
