"""Building a dataset: select traces, split off a holdout, freeze the membership.

Membership is frozen in dataset_members (position order = export order). The holdout side of
a trace is a seeded hash of its normalised prompt, so identical prompts always land on the
same side: a holdout prompt is never seen in training.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.datasets.schema import BuildRequest, DatasetFilters, SelectionRequest, dataset_key
from tunix_rt.db.models import Dataset, DatasetMember, Trace, TraceScore
from tunix_rt.traces import bulk

READ_PAGE_ROWS = 1000


def latest_score(criteria: str) -> ColumnElement[Any]:
    """The newest score of `criteria` for the outer trace row (NULL when unscored)."""
    return (
        select(TraceScore.score)
        .where(TraceScore.trace_id == Trace.id, TraceScore.criteria == criteria)
        .order_by(TraceScore.created_at.desc(), TraceScore.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def filter_selection(stmt: Select[Any], filters: DatasetFilters) -> Select[Any]:
    if filters.source is not None:
        stmt = stmt.where(Trace.source == filters.source)
    if filters.task is not None:
        stmt = stmt.where(Trace.task == filters.task)
    if filters.created_after is not None:
        stmt = stmt.where(Trace.created_at > filters.created_after)
    if filters.created_before is not None:
        stmt = stmt.where(Trace.created_at < filters.created_before)
    if filters.min_score is not None:
        stmt = stmt.where(latest_score(filters.criteria) >= filters.min_score)
    return stmt


async def count_selection(session: AsyncSession, request: SelectionRequest) -> int:
    stmt = filter_selection(select(func.count()).select_from(Trace), request.filters)
    total = int(await session.scalar(stmt) or 0)
    return min(total, request.limit) if request.limit is not None else total


async def select_trace_ids(session: AsyncSession, request: SelectionRequest) -> list[uuid.UUID]:
    """The selected trace ids in membership order."""
    newest = (Trace.created_at.desc(), Trace.id.desc())
    stmt = filter_selection(select(Trace.id), request.filters)
    if request.selection_strategy == "random":
        # Shuffle a stable order with a seeded RNG: same data + seed -> same dataset.
        ids = list((await session.scalars(stmt.order_by(Trace.created_at, Trace.id))).all())
        random.Random(request.seed).shuffle(ids)
        return ids[: request.limit] if request.limit is not None else ids
    if request.selection_strategy == "top_score":
        score = latest_score(request.filters.criteria)
        stmt = stmt.order_by(score.desc().nulls_last(), *newest)
    else:
        stmt = stmt.order_by(*newest)
    if request.limit is not None:
        stmt = stmt.limit(request.limit)
    return list((await session.scalars(stmt)).all())


def normalise_prompt(prompt: str) -> str:
    return " ".join(prompt.split()).casefold()


def holdout_side(prompt: str, seed: int, fraction: float) -> str:
    """'holdout' for a seeded-hash fraction of normalised prompts, else 'train'."""
    if fraction <= 0:
        return "train"
    digest = hashlib.sha256(f"{seed}\x00{normalise_prompt(prompt)}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "holdout" if position < fraction else "train"


def canonical_payload(row: Any) -> str:
    payload = {
        "trace_version": row.trace_version,
        "prompt": row.prompt,
        "final_answer": row.final_answer,
        "steps": row.steps,
        "meta": row.meta,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def describe_selection(request: SelectionRequest) -> str:
    f = request.filters
    parts = [f"{k}={v!r}" for k, v in (("source", f.source), ("task", f.task)) if v is not None]
    if f.min_score is not None:
        parts.append(f"latest {f.criteria} score >= {f.min_score}")
    if f.created_after is not None:
        parts.append(f"created after {f.created_after.isoformat()}")
    if f.created_before is not None:
        parts.append(f"created before {f.created_before.isoformat()}")
    return ", ".join(parts) if parts else "no filters (the trace store is empty)"


async def build_dataset(session: AsyncSession, request: BuildRequest) -> Dataset:
    key = dataset_key(request.dataset_name, request.dataset_version)
    if await session.get(Dataset, key) is not None:
        raise errors.Conflict(f"dataset {key!r} already exists; datasets are immutable")
    ids = await select_trace_ids(session, request)
    if not ids:
        raise errors.ValidationFailed(
            f"no traces match the selection ({describe_selection(request)}); nothing to build"
        )
    members: list[dict[str, Any]] = []
    digest = hashlib.sha256()
    for start in range(0, len(ids), READ_PAGE_ROWS):
        page = ids[start : start + READ_PAGE_ROWS]
        stmt = select(
            Trace.id, Trace.trace_version, Trace.prompt, Trace.final_answer, Trace.steps, Trace.meta
        ).where(Trace.id.in_(page))
        rows = {r.id: r for r in await session.execute(stmt)}
        for trace_id in page:
            row = rows.get(trace_id)
            if row is None:
                raise errors.Conflict("a selected trace was deleted during the build; retry")
            digest.update(f"{trace_id}\n{canonical_payload(row)}\n".encode())
            split = holdout_side(row.prompt, request.seed, request.holdout_fraction)
            members.append(
                {"dataset_key": key, "position": len(members), "trace_id": trace_id, "split": split}
            )
    holdout = sum(1 for m in members if m["split"] == "holdout")
    dataset = Dataset(
        key=key,
        name=request.dataset_name,
        version=request.dataset_version,
        filters=request.filters.model_dump(mode="json"),
        selection_strategy=request.selection_strategy,
        seed=request.seed,
        limit=request.limit,
        holdout_fraction=request.holdout_fraction,
        trace_count=len(members),
        train_count=len(members) - holdout,
        holdout_count=holdout,
        content_hash=digest.hexdigest(),
    )
    try:
        session.add(dataset)
        await session.flush()
        await bulk.insert_rows(session, DatasetMember.__table__, members)
    except IntegrityError as exc:
        # Lost a race: the same key built concurrently, or a member trace deleted meanwhile.
        raise errors.Conflict(
            f"dataset {key!r} could not be frozen: it was built concurrently or one of its "
            "traces was deleted meanwhile; retry"
        ) from exc
    return dataset
