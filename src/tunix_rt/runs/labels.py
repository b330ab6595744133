"""Run labels: the name, tags and notes a person gives a run to find it again.

Labels are not part of a run's lifecycle: they change in any status, carry no fence and
never touch the columns a worker writes. The name and notes live on the run row (written
through runs/queue.py like every run-row write), tags in run_tags (run_id, tag).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.runs import queue
from tunix_rt.runs.schema import MAX_TAGS, RunLabelsPatch

Run = models.Run
RunTag = models.RunTag


async def read_tags(
    session: AsyncSession, run_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """The tags of every run in RUN_IDS (a page of a list) in one query, sorted per run."""
    found: dict[uuid.UUID, list[str]] = defaultdict(list)
    if not run_ids:
        return found
    rows = await session.execute(
        select(RunTag.run_id, RunTag.tag)
        .where(RunTag.run_id.in_(list(run_ids)))
        .order_by(RunTag.run_id, RunTag.tag)
    )
    for run_id, tag in rows:
        found[run_id].append(tag)
    return found


async def read_run_tags(session: AsyncSession, run_id: uuid.UUID) -> list[str]:
    return (await read_tags(session, [run_id])).get(run_id, [])


async def update_labels(
    session: AsyncSession, run_id: uuid.UUID, patch: RunLabelsPatch
) -> tuple[models.Run, list[str]]:
    """Apply PATCH to the run's labels; returns the run and its tags after the change.

    The first statement is an UPDATE of the run row (the name/notes, or a no-op): it holds the
    row lock (PostgreSQL) or the write lock (SQLite) until commit, so two edits of one run's
    tags apply one after the other instead of both inserting the same (run_id, tag)."""
    given = patch.model_fields_set
    values: dict[str, Any] = {}
    if "name" in given:
        values["name"] = patch.name
    if "notes" in given:
        values["notes"] = patch.notes or ""
    await queue.update_run_fields(session, run_id, **(values or {"name": Run.name}))
    run = await queue.read_run(session, run_id)  # NotFound when the UPDATE found no row
    current = await read_run_tags(session, run_id)
    wanted = _apply_tags(current, patch)
    if len(wanted) > MAX_TAGS:
        raise errors.ValidationFailed(
            f"a run holds at most {MAX_TAGS} tags; this change would leave {len(wanted)}"
        )
    gone = set(current) - set(wanted)
    new = [tag for tag in wanted if tag not in set(current)]
    if gone:
        await session.execute(
            delete(RunTag).where(RunTag.run_id == run_id, RunTag.tag.in_(sorted(gone)))
        )
    if new:
        await session.execute(insert(RunTag), [{"run_id": run_id, "tag": tag} for tag in new])
    await session.flush()
    return run, sorted(wanted)


def _apply_tags(current: Iterable[str], patch: RunLabelsPatch) -> list[str]:
    if patch.tags is not None:
        return list(patch.tags)
    removed = set(patch.remove_tags or ())
    kept = [tag for tag in current if tag not in removed]
    return kept + [tag for tag in patch.add_tags or () if tag not in kept]
