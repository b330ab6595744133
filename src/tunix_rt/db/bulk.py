"""Bulk INSERT at driver level, inside the session's transaction.

SQLAlchemy's ORM/Core insert processes every parameter of every row in Python; for tens of
thousands of rows that dominates. JSON columns arrive pre-serialised as strings (the asyncpg
dialect's JSONB codec and SQLite's TEXT both take the JSON text as is).
- PostgreSQL: binary COPY through the session's asyncpg connection (no per-row statement
  execution on the server); values are native Python (UUID, aware datetime).
- SQLite: one prepared INSERT compiled for the dialect, executemany in aiosqlite's thread,
  values passed through the column types' own bind processors (UUID, datetime).

asyncpg's COPY waits forever when its connection dies mid-call, and its own `timeout`
does not cover that wait: `copy_records` watches the connection and the engine's command
deadline itself, and on either drops the connection (never back into the pool) and raises
errors.Unavailable. Any code that COPYs (run log lines too) goes through it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import JSON, FromClause, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tunix_rt.db import engine as db_engine
from tunix_rt.db import outage

log = logging.getLogger(__name__)
WATCH_INTERVAL_S = 0.05  # how soon a COPY notices its connection was closed under it

Processor = Callable[[Any], Any] | None


def _processors(table: Table, keys: Sequence[str], dialect: Any) -> list[Processor]:
    out: list[Processor] = []
    for key in keys:
        col_type = table.c[key].type
        impl = col_type.dialect_impl(dialect)
        if isinstance(impl, JSON):
            out.append(None)  # values are already JSON text
            continue
        out.append(_memoise_last(impl.bind_processor(dialect)))
    return out


def _memoise_last(proc: Processor) -> Processor:
    """Reuse the last result for an identical value (a batch shares one created_at)."""
    if proc is None:
        return None
    last: list[Any] = [object(), None]

    def process(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, proc(value)
        return last[1]

    return process


async def insert_rows(
    session: AsyncSession, target: FromClause, rows: Sequence[dict[str, Any]]
) -> None:
    """INSERT every row (all rows share the same keys) in the session's transaction.

    Constraint violations raise sqlalchemy.exc.IntegrityError on both backends.
    """
    table = cast(Table, target)
    if not rows:
        return
    conn = await session.connection()
    dialect = conn.dialect
    if dialect.name == "postgresql":
        await copy_rows(conn, table, rows)
        return
    keys = list(rows[0])
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    order = list(compiled.positiontup or keys)
    procs = _processors(table, order, dialect)
    params = [
        tuple(
            value if proc is None or value is None else proc(value)
            for proc, value in zip(procs, [row[k] for k in order], strict=True)
        )
        for row in rows
    ]
    await conn.exec_driver_sql(str(compiled), params)


async def copy_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    keys = list(rows[0])
    await copy_records(conn, table.name, keys, [tuple(row[k] for k in keys) for row in rows])


async def copy_records(
    conn: AsyncConnection,
    table_name: str,
    columns: Sequence[str],
    records: Sequence[tuple[Any, ...]],
) -> None:
    """COPY records into a table inside the connection's transaction (PostgreSQL only),
    within the engine's command deadline.

    Raises IntegrityError on a constraint violation, errors.Unavailable when the connection
    is lost, the deadline passes or the server cancels the COPY (statement_timeout).
    """
    import asyncpg

    # The asyncpg adapter opens its transaction lazily, on its first statement; COPY on the
    # raw connection before that would run outside the session's transaction (autocommit,
    # and a later rollback would not undo it). This statement makes sure BEGIN happened.
    await conn.exec_driver_sql("SELECT 1")
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    assert driver is not None
    deadline_s = db_engine.command_deadline_s(conn)
    try:
        await _watched(
            driver,
            driver.copy_records_to_table(
                table_name, records=records, columns=list(columns), timeout=deadline_s
            ),
            deadline_s,
        )
    except BaseException as exc:
        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            raise IntegrityError(f"COPY {table_name}", None, exc) from exc
        server_said = isinstance(exc, asyncpg.PostgresError) and not driver.is_closed()
        if not server_said or outage.connection_state_unknown(exc):
            # Only a server-reported error leaves the connection between statements; after
            # anything else asyncpg may still be mid-COPY on it, or it is dead: drop it.
            driver.terminate()
            await conn.invalidate(exc if isinstance(exc, Exception) else None)
        unavailable = outage.unavailable_from(exc) if isinstance(exc, Exception) else None
        if unavailable is None:
            log.warning("COPY into %s failed: %r", table_name, exc)
            raise
        raise unavailable from exc


async def _watched(driver: Any, call: Any, deadline_s: float | None) -> None:
    """Await a driver call; give up when its connection closes or the deadline passes."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(call)
    give_up_at = None if deadline_s is None else loop.time() + deadline_s
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=WATCH_INTERVAL_S)
            if task.done():
                break
            if driver.is_closed():
                raise _closed_error()
            if give_up_at is not None and loop.time() >= give_up_at:
                raise TimeoutError(f"COPY did not finish within {deadline_s} s")
        task.result()
    finally:
        if not task.done():
            task.cancel()
            # A cancelled COPY on a dead connection ends at once; do not wait on it for long.
            await asyncio.wait({task}, timeout=1.0)


def _closed_error() -> Exception:
    import asyncpg

    error: Exception = asyncpg.ConnectionDoesNotExistError(
        "connection closed in the middle of COPY"
    )
    return error


async def upsert_rows(
    session: AsyncSession,
    table: FromClause,
    rows: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """INSERT rows; on a conflict on `keys`, overwrite the `update` columns (both dialects
    spell it ON CONFLICT ... DO UPDATE)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    build = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = build(cast(Table, table)).values(list(rows))
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={name: stmt.excluded[name] for name in update}
    )
    await session.execute(stmt)
