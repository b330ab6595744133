"""Seed evaluation rows (a record and its per-example rows) directly with the ORM, for the
comparison and leaderboard tests: each example is (example_key, baseline-style verdict)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.db import models
from tunix_rt.db.types import utcnow

Sessions = async_sessionmaker[AsyncSession]


async def insert_evaluation(
    sessions: Sessions,
    examples: Sequence[tuple[str, bool]],
    *,
    status: str = "completed",
    scorer_version: str = "answer-v1",
    dataset_key: str = "duel-v1",
    format_ok: Sequence[bool] | None = None,
    run_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """An evaluation whose i-th example has key examples[i][0] and is correct when
    examples[i][1]; its generated text says which evaluation produced it."""
    evaluation_id = uuid.uuid4()
    n = len(examples)
    correct = sum(1 for _, ok in examples if ok)
    async with sessions() as session:
        session.add(
            models.Evaluation(
                id=evaluation_id,
                run_id=run_id,
                step=100,
                dataset_key=dataset_key,
                split="holdout",
                status=status,
                scorer_version=scorer_version,
                n=n,
                exact_match=correct / n if n else None,
                format_ok=1.0,
                summary={},
                created_at=utcnow(),
            )
        )
        await session.flush()
        session.add_all(
            models.EvaluationExample(
                evaluation_id=evaluation_id,
                position=i,
                example_key=key,
                prompt=f"prompt {key}",
                expected="A",
                generated=f"Answer: {'A' if ok else 'B'} ({evaluation_id.hex[:8]})",
                extracted="A" if ok else "B",
                correct=ok,
                format_ok=format_ok[i] if format_ok is not None else True,
                task="duel",
            )
            for i, (key, ok) in enumerate(examples)
        )
        await session.commit()
    return evaluation_id
