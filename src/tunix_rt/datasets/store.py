"""Dataset rows: read, list, and the streamed export of a frozen membership."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.datasets import formats
from tunix_rt.datasets.schema import Manifest
from tunix_rt.db import models

EXPORT_PAGE_ROWS = 1000


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
    return Manifest(
        dataset_key=row.key,
        name=row.name,
        version=row.version,
        filters=row.filters,
        selection_strategy=row.selection_strategy,
        seed=row.seed,
        limit=row.limit,
        holdout_fraction=row.holdout_fraction,
        trace_count=row.trace_count,
        train_count=row.train_count,
        holdout_count=row.holdout_count,
        content_hash=row.content_hash,
        created_at=row.created_at,
    )


async def iter_members(
    session: AsyncSession, key: str, *, split: str = "all"
) -> AsyncIterator[formats.MemberTrace]:
    """Members with payloads in membership order, read in keyset pages (constant memory)."""
    if split not in formats.SPLITS:
        raise errors.ValidationFailed(
            f"unknown split {split!r}; choose one of {', '.join(formats.SPLITS)}"
        )
    member, trace = models.DatasetMember, models.Trace
    after = -1
    while True:
        stmt = (
            select(
                member.position,
                member.split,
                trace.id,
                trace.created_at,
                trace.trace_version,
                trace.prompt,
                trace.final_answer,
                trace.steps,
                trace.meta,
            )
            .join(trace, trace.id == member.trace_id)
            .where(member.dataset_key == key, member.position > after)
            .order_by(member.position)
            .limit(EXPORT_PAGE_ROWS)
        )
        if split != "all":
            stmt = stmt.where(member.split == split)
        rows = (await session.execute(stmt)).all()
        for row in rows:
            yield formats.MemberTrace(
                trace_id=str(row.id),
                created_at=row.created_at,
                split=row.split,
                trace_version=row.trace_version,
                prompt=row.prompt,
                final_answer=row.final_answer,
                steps=row.steps,
                meta=row.meta,
            )
        if len(rows) < EXPORT_PAGE_ROWS:
            return
        after = rows[-1].position


async def iter_export(
    session: AsyncSession, key: str, *, fmt: str, split: str
) -> AsyncIterator[str]:
    """JSONL lines (each ending in a newline) of a dataset, in membership order.

    Raises NotFound / ValidationFailed before the first line, so a route can still answer 4xx.
    """
    if fmt not in formats.FORMATS:
        raise errors.ValidationFailed(
            f"unknown format {fmt!r}; choose one of {', '.join(formats.FORMATS)}"
        )
    await read_dataset(session, key)
    async for member in iter_members(session, key, split=split):
        yield formats.format_line(fmt, member)
