"""Bulk INSERT at driver level: one prepared statement, all rows in one executemany.

SQLAlchemy's ORM/Core insert processes every parameter of every row in Python; for tens of
thousands of rows that dominates. Here the statement is compiled once for the dialect, the
only per-value conversions applied are the column types' own bind processors (UUID and
datetime), and JSON columns arrive pre-serialised as strings (the asyncpg dialect's JSONB
codec and SQLite's TEXT both take the JSON text as is). On PostgreSQL, asyncpg pipelines the
executemany; on SQLite, aiosqlite runs sqlite3's executemany in its thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import JSON, FromClause, Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

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
    """INSERT every row (all rows share the same keys) in the session's transaction."""
    table = cast(Table, target)
    if not rows:
        return
    conn = await session.connection()
    dialect = conn.dialect
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
