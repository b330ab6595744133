"""Bulk INSERT at driver level, inside the session's transaction.

SQLAlchemy's ORM/Core insert processes every parameter of every row in Python; for tens of
thousands of rows that dominates. JSON columns arrive pre-serialised as strings (the asyncpg
dialect's JSONB codec and SQLite's TEXT both take the JSON text as is).
- PostgreSQL: binary COPY through the session's asyncpg connection (no per-row statement
  execution on the server); values are native Python (UUID, aware datetime).
- SQLite: one prepared INSERT compiled for the dialect, executemany in aiosqlite's thread,
  values passed through the column types' own bind processors (UUID, datetime).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import JSON, FromClause, Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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
    import asyncpg

    # The asyncpg adapter opens its transaction lazily, on its first statement; COPY on the
    # raw connection before that would run outside the session's transaction (autocommit,
    # and a later rollback would not undo it). This statement makes sure BEGIN happened.
    await conn.exec_driver_sql("SELECT 1")
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    keys = list(rows[0])
    records = [tuple(row[k] for k in keys) for row in rows]
    try:
        await driver.copy_records_to_table(table.name, records=records, columns=keys)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(f"COPY {table.name}", None, exc) from exc
