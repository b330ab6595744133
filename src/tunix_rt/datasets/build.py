"""Building a dataset: select traces, split off a holdout, freeze the membership.

Membership is frozen in dataset_members (position order = export order). The holdout side of
a trace is a seeded hash of its normalised prompt, so identical prompts always land on the
same side: a holdout prompt is never seen in training.

Reproducible: membership, order and content hash depend on the traces' content, the filters
and the seed, never on trace ids or on the order the traces were inserted (except through
created_at for `latest`). Model outputs (traces a run's evaluation stored) are left out unless
the filters ask for them.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.datasets.schema import (
    BuildOptions,
    BuildRequest,
    DatasetFilters,
    SelectionRequest,
    dataset_key,
    stored_filters,
)
from tunix_rt.db import bulk
from tunix_rt.db.models import Dataset, DatasetMember, Trace, TraceScore
from tunix_rt.traces import store as trace_store

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
    elif not filters.include_model_outputs:
        stmt = stmt.where(trace_store.not_model_output())
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


@dataclass(frozen=True, slots=True)
class Candidate:
    """A matching trace, reduced to what selection needs (no payload kept in memory)."""

    content_digest: bytes  # sha256 of canonical_payload: what training sees
    trace_id: uuid.UUID
    prompt_key: bytes  # sha256 of the normalised prompt: duplicate detection
    split: str

    def content_order(self) -> tuple[bytes, bytes]:
        # Ids only break ties between traces of identical content, whose exports are equal.
        return self.content_digest, self.trace_id.bytes


@dataclass
class Selection:
    members: list[Candidate] = field(default_factory=list)
    duplicates_dropped: int = 0


def to_candidate(row: Any, request: SelectionRequest) -> Candidate:
    prompt = normalise_prompt(row.prompt)
    return Candidate(
        content_digest=hashlib.sha256(canonical_payload(row).encode()).digest(),
        trace_id=row.id,
        prompt_key=hashlib.sha256(prompt.encode()).digest(),
        split=holdout_side(row.prompt, request.seed, request.holdout_fraction),
    )


def candidate_stmt(request: SelectionRequest) -> Select[Any]:
    """Matching rows; for latest/top_score ordered by the strategy's key (the key columns are
    selected as `k0`, `k1`: equal keys form one group that is ordered by content)."""
    columns = (Trace.id, Trace.trace_version, Trace.prompt, Trace.final_answer, Trace.steps)
    stmt = filter_selection(select(*columns, Trace.meta), request.filters)
    if request.selection_strategy == "latest":
        return stmt.add_columns(Trace.created_at.label("k0")).order_by(Trace.created_at.desc())
    if request.selection_strategy == "top_score":
        score = latest_score(request.filters.criteria).label("k0")
        stmt = stmt.add_columns(score, Trace.created_at.label("k1"))
        return stmt.order_by(score.desc().nulls_last(), Trace.created_at.desc())
    return stmt


def strategy_key(row: Any, strategy: str) -> tuple[Any, ...]:
    if strategy == "latest":
        return (row.k0,)
    if strategy == "top_score":
        return (row.k0, row.k1)
    return ()


class Selector:
    """Takes candidates in strategy order, drops repeated prompts, stops at the limit."""

    def __init__(self, request: SelectionRequest, limit: int | None) -> None:
        self.limit = limit
        self.dedupe = request.dedupe_prompts
        self.selection = Selection()
        self._prompts: set[bytes] = set()

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.selection.members) >= self.limit

    def take(self, ordered: list[Candidate]) -> None:
        for candidate in ordered:
            if self.full:
                return
            if self.dedupe:
                if candidate.prompt_key in self._prompts:
                    self.selection.duplicates_dropped += 1
                    continue
                self._prompts.add(candidate.prompt_key)
            self.selection.members.append(candidate)


async def select_members(session: AsyncSession, request: SelectionRequest) -> Selection:
    """The members in membership order.

    Trace ids and insertion order never decide membership or order: candidates are ordered
    by the strategy's key, then by content digest, before any seeded step. `random` orders all
    candidates by content and then shuffles with the seed; `latest` and `top_score` read in key
    order and stop once the limit is reached and the group of equal keys is complete.
    """
    strategy = request.selection_strategy
    stmt = candidate_stmt(request).execution_options(yield_per=READ_PAGE_ROWS)
    result = await session.stream(stmt)
    try:
        if strategy == "random":
            everything = [to_candidate(row, request) async for row in result]
            everything.sort(key=Candidate.content_order)
            selector = Selector(request, limit=None)
            selector.take(everything)
            members = selector.selection.members
            random.Random(request.seed).shuffle(members)
            if request.limit is not None:
                del members[request.limit :]
            return selector.selection
        selector = Selector(request, limit=request.limit)
        group: list[Candidate] = []
        group_key: tuple[Any, ...] | None = None
        async for row in result:
            key = strategy_key(row, strategy)
            if group and key != group_key:
                selector.take(sorted(group, key=Candidate.content_order))
                group = []
                if selector.full:
                    break
            group_key = key
            group.append(to_candidate(row, request))
        selector.take(sorted(group, key=Candidate.content_order))
        return selector.selection
    finally:
        await result.close()


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
    selection = await select_members(session, request)
    if not selection.members:
        raise errors.ValidationFailed(
            f"no traces match the selection ({describe_selection(request)}); nothing to build"
        )
    digest = hashlib.sha256()
    members: list[dict[str, Any]] = []
    for position, candidate in enumerate(selection.members):
        digest.update(f"{candidate.split} {candidate.content_digest.hex()}\n".encode())
        members.append(
            {
                "dataset_key": key,
                "position": position,
                "trace_id": candidate.trace_id,
                "split": candidate.split,
            }
        )
    holdout = sum(1 for m in members if m["split"] == "holdout")
    options = BuildOptions(
        dedupe_prompts=request.dedupe_prompts, duplicates_dropped=selection.duplicates_dropped
    )
    dataset = Dataset(
        key=key,
        name=request.dataset_name,
        version=request.dataset_version,
        filters=stored_filters(request.filters, options),
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
