"""The confusion table of an evaluation: expected answer vs extracted answer, counted.

Rows are the expected answers (the classes); columns are the same classes, plus "other"
(an extracted answer that is none of the classes) and "none" (no answer extracted). An
extracted answer falls in a class's column when the scorer's normalised forms agree, so
the diagonal holds exactly the examples the scorer counted as correct. Only computed for
at most MAX_CLASSES expected answers: with more, the answer is free text (sums, products)
and a table would be mostly empty; the caller gets a Conflict saying so.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from pydantic import BaseModel
from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.evaluations.store import MAX_CLASS_BREAKDOWN, read_evaluation
from tunix_rt.traces.scorer import normalise_answer

MAX_CLASSES = MAX_CLASS_BREAKDOWN
Example = models.EvaluationExample


class ConfusionRow(BaseModel):
    expected: str
    n: int
    counts: list[int]  # aligned with Confusion.classes
    other: int  # extracted, but none of the classes
    none: int  # nothing extracted


class Confusion(BaseModel):
    evaluation_id: uuid.UUID
    n: int
    classes: list[str]
    rows: list[ConfusionRow]


class TooManyClasses(errors.Conflict):
    pass


async def read_confusion(session: AsyncSession, evaluation_id: uuid.UUID) -> Confusion:
    await read_evaluation(session, evaluation_id)
    where = Example.evaluation_id == evaluation_id
    class_count = (
        await session.execute(select(func.count(distinct(Example.expected))).where(where))
    ).scalar_one()
    if class_count > MAX_CLASSES:
        raise TooManyClasses(
            f"evaluation {evaluation_id} has {class_count} distinct expected answers; "
            f"a confusion table is only computed for at most {MAX_CLASSES}"
        )
    groups = (
        await session.execute(
            select(Example.expected, Example.extracted, func.count())
            .where(where)
            .group_by(Example.expected, Example.extracted)
        )
    ).all()
    classes = sorted({expected for expected, _, _ in groups})
    column_of: dict[str, int] = {}
    for index, name in enumerate(classes):
        column_of.setdefault(normalise_answer(name), index)
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(classes))
    other: dict[str, int] = defaultdict(int)
    none: dict[str, int] = defaultdict(int)
    for expected, extracted, count in groups:
        if extracted is None:
            none[expected] += count
        elif (column := column_of.get(normalise_answer(extracted))) is not None:
            counts[expected][column] += count
        else:
            other[expected] += count
    rows = [
        ConfusionRow(
            expected=name,
            n=sum(counts[name]) + other[name] + none[name],
            counts=counts[name],
            other=other[name],
            none=none[name],
        )
        for name in classes
    ]
    return Confusion(
        evaluation_id=evaluation_id, n=sum(r.n for r in rows), classes=classes, rows=rows
    )
