"""Dataset rows: read, list, and the streamed export of a frozen membership."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Integer, Select, String, Text, bindparam, cast, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.datasets import formats
from tunix_rt.datasets.schema import Manifest, split_stored_filters
from tunix_rt.db import models

EXPORT_PAGE_ROWS = 2000


async def read_dataset(session: AsyncSession, key: str) -> models.Dataset:
    row = await session.get(models.Dataset, key)
    if row is None:
        raise errors.NotFound(f"dataset {key!r} not found")
    return row


async def list_datasets(session: AsyncSession, *, limit: int, offset: int) -> list[models.Dataset]:
    stmt = (
        select(models.Dataset)
        .order_by(models.Dataset.created_at.desc(), models.Dataset.key)
        .limit(limit)
        .offset(offset)
    )
    return list((await session.scalars(stmt)).all())


def manifest_of(row: models.Dataset) -> Manifest:
    filters, options = split_stored_filters(row.filters)
    return Manifest(
        dataset_key=row.key,
        name=row.name,
        version=row.version,
        filters=filters,
        selection_strategy=row.selection_strategy,
        seed=row.seed,
        limit=row.limit,
        holdout_fraction=row.holdout_fraction,
        trace_count=row.trace_count,
        train_count=row.train_count,
        holdout_count=row.holdout_count,
        content_hash=row.content_hash,
        created_at=row.created_at,
        dedupe_prompts=options.dedupe_prompts if options else None,
        duplicates_dropped=options.duplicates_dropped if options else None,
    )


def member_stmt(key: str, split: str) -> Select[*tuple[Any, ...]]:
    """Members at positions [:page_start, :page_end).

    A position range, not `position > after LIMIT n`: positions are dense (0..count-1), and
    with stale statistics right after a bulk build PostgreSQL would join every remaining
    member and then sort to apply the LIMIT, making each page O(rest of the dataset).
    """
    member, trace = models.DatasetMember, models.Trace
    stmt: Select[*tuple[Any, ...]] = (
        select(
            member.position,
            member.split,
            # Raw driver values (no per-row type processing): the export's hot loop.
            type_coerce(trace.id, String).label("id"),
            type_coerce(trace.created_at, String).label("created_at"),
            trace.trace_version,
            trace.prompt,
            trace.final_answer,
            cast(trace.steps, Text).label("steps_json"),
            cast(trace.meta, Text).label("meta_json"),
        )
        .join(trace, trace.id == member.trace_id)
        .where(
            member.dataset_key == key,
            member.position >= bindparam("page_start", type_=Integer),
            member.position < bindparam("page_end", type_=Integer),
        )
        .order_by(member.position)
    )
    if split != "all":
        stmt = stmt.where(member.split == split)
    return stmt


async def page_fetcher(
    session: AsyncSession, key: str, split: str
) -> Callable[[int], Awaitable[Sequence[Any]]]:
    """fetch(start) -> raw row tuples of one page, straight from the driver.

    The export's hot loop: SQLAlchemy's result machinery costs about as much per row as the
    query itself, so the statement is compiled once and run on the driver connection (the
    session's own connection, so it sees the session's transaction).
    """
    conn = await session.connection()
    compiled = member_stmt(key, split).compile(dialect=conn.dialect)
    sql = str(compiled)
    names = list(compiled.positiontup or [])
    base = dict(compiled.params)
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection

    async def fetch(start: int) -> Sequence[Any]:
        values = {**base, "page_start": start, "page_end": start + EXPORT_PAGE_ROWS}
        args = [values[n] for n in names]
        if conn.dialect.name == "postgresql":
            rows: Sequence[Any] = await driver.fetch(sql, *args)
        else:
            rows = await driver.execute_fetchall(sql, args)
        return rows

    return fetch


def uuid_text(raw: Any) -> str:
    """SQLite stores UUIDs as 32 hex digits; PostgreSQL returns a UUID object."""
    text = str(raw)
    if len(text) == 32:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text


async def iter_member_pages(
    session: AsyncSession, key: str, *, split: str = "all"
) -> AsyncIterator[list[formats.MemberTrace]]:
    """Members with payloads in membership order, in pages (constant memory).

    The next page's query is sent before the current page is handed out, so the database
    works on it while the caller formats this one (at most two pages are held).
    """
    if split not in formats.SPLITS:
        raise errors.ValidationFailed(
            f"unknown split {split!r}; choose one of {', '.join(formats.SPLITS)}"
        )
    total = (await read_dataset(session, key)).trace_count
    fetch = await page_fetcher(session, key, split)

    starts = iter(range(0, total, EXPORT_PAGE_ROWS))
    prefetch: asyncio.Task[Sequence[Any]] | None = None
    first = next(starts, None)
    if first is None:
        return
    rows = await fetch(first)
    try:
        while True:
            following = next(starts, None)
            if following is not None:
                prefetch = asyncio.ensure_future(fetch(following))
                await asyncio.sleep(0)  # let it send the query before we yield
            if rows:
                yield [
                    formats.MemberTrace(uuid_text(i), c, side, version, prompt, answer, st, me)
                    for _pos, side, i, c, version, prompt, answer, st, me in rows
                ]
            if prefetch is None:
                return
            # Only this generator uses the connection, and it awaits the prefetch before any
            # other statement: the connection never sees two operations at once.
            rows, prefetch = await prefetch, None
    finally:
        if prefetch is not None:  # the consumer stopped early (e.g. client went away)
            prefetch.cancel()


async def iter_members(
    session: AsyncSession, key: str, *, split: str = "all"
) -> AsyncIterator[formats.MemberTrace]:
    async for page in iter_member_pages(session, key, split=split):
        for member in page:
            yield member


async def iter_export_pages(
    session: AsyncSession, key: str, *, fmt: str, split: str
) -> AsyncIterator[list[str]]:
    """Pages of JSONL lines; raises NotFound / ValidationFailed before the first page."""
    if fmt not in formats.FORMATS:
        raise errors.ValidationFailed(
            f"unknown format {fmt!r}; choose one of {', '.join(formats.FORMATS)}"
        )
    format_line = formats.format_line
    async for page in iter_member_pages(session, key, split=split):
        yield [format_line(fmt, member) for member in page]


async def iter_export(
    session: AsyncSession, key: str, *, fmt: str, split: str
) -> AsyncIterator[str]:
    """JSONL lines (each ending in a newline) of a dataset, in membership order, read in
    pages (constant memory). Raises NotFound / ValidationFailed on the first iteration."""
    async for page in iter_export_pages(session, key, fmt=fmt, split=split):
        for line in page:
            yield line
