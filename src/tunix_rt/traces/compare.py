"""Reading a whole trace (payload and scores) and step-aligned comparison of two traces."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.traces import scoring, store
from tunix_rt.traces.schema import StepDiff, StoredStep, Trace, TraceComparison, TraceDiff


async def read_trace(session: AsyncSession, trace_id: uuid.UUID) -> Trace:
    row = await store.read_trace_row(session, trace_id)
    return Trace(
        id=row.id,
        created_at=row.created_at,
        trace_version=row.trace_version,
        payload=store.payload_of(row),
        scores=await scoring.list_scores(session, trace_id),
    )


def diff_steps(base: list[StoredStep], other: list[StoredStep]) -> list[StepDiff]:
    """Align steps by position (each side ordered by i); a step is the same when its type
    and content match."""
    left = sorted(base, key=lambda s: s.i)
    right = sorted(other, key=lambda s: s.i)
    out = []
    for index in range(max(len(left), len(right))):
        a = left[index] if index < len(left) else None
        b = right[index] if index < len(right) else None
        same = a is not None and b is not None and (a.type, a.content) == (b.type, b.content)
        out.append(StepDiff(index=index, base=a, other=b, same=same))
    return out


def diff_traces(base: Trace, other: Trace) -> TraceDiff:
    steps = diff_steps(base.payload.steps, other.payload.steps)
    first = next((d.index for d in steps if not d.same), None)
    return TraceDiff(
        first_divergent_step=first,
        steps_compared=len(steps),
        final_answer_differs=base.payload.final_answer.strip()
        != other.payload.final_answer.strip(),
        steps=steps,
    )


async def compare_traces(
    session: AsyncSession, base_id: uuid.UUID, other_id: uuid.UUID
) -> TraceComparison:
    base = await read_trace(session, base_id)
    other = await read_trace(session, other_id)
    return TraceComparison(base=base, other=other, diff=diff_traces(base, other))
