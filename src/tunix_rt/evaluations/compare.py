"""Paired comparison of two evaluations on the examples both evaluated.

Examples pair by example_key (a digest of the prompt). A key that occurs k times in one
evaluation and m times in the other pairs its first min(k, m) occurrences in position
order, so every example row is used at most once. On the paired set each pair is right or
wrong under each side; the pairs that flip carry the whole difference, which is tested
with McNemar's exact test and bounded with Newcombe's paired interval.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.evaluations import stats

Metric = Literal["exact_match", "format_ok"]
METRICS: tuple[Metric, ...] = ("exact_match", "format_ok")
MAX_FLIPPED_EXAMPLES = 200
COMPLETED = "completed"


@dataclass(frozen=True)
class Side:
    evaluation_id: uuid.UUID
    run_id: uuid.UUID | None
    step: int | None
    dataset_key: str
    split: str
    scorer_version: str
    n_evaluated: int
    correct: int  # pairs right under the compared metric
    value: float  # the metric on the paired set
    exact_match: float
    format_ok: float


@dataclass(frozen=True)
class FlippedExample:
    example_key: str
    direction: Literal["right_to_wrong", "wrong_to_right"]
    task: str | None
    prompt: str
    expected: str
    baseline_generated: str
    baseline_extracted: str | None
    candidate_generated: str
    candidate_extracted: str | None


@dataclass(frozen=True)
class Comparison:
    metric: Metric
    n_paired: int
    baseline: Side
    candidate: Side
    diff: float  # candidate - baseline on the paired set
    diff_ci_low: float
    diff_ci_high: float
    flips: dict[str, int]
    mcnemar_p: float
    examples: list[FlippedExample]
    examples_truncated: bool


@dataclass(frozen=True)
class _Row:
    position: int
    example_key: str
    correct: bool
    format_ok: bool


async def _read_completed(
    session: AsyncSession, evaluation_id: uuid.UUID, role: str
) -> models.Evaluation:
    evaluation = await session.get(models.Evaluation, evaluation_id)
    if evaluation is None:
        raise errors.NotFound(f"{role} evaluation {evaluation_id} not found")
    if evaluation.status != COMPLETED:
        raise errors.ValidationFailed(
            f"{role} evaluation {evaluation_id} is {evaluation.status}, not completed: "
            "only finished evaluations can be compared",
            status=evaluation.status,
        )
    return evaluation


async def _read_rows(session: AsyncSession, evaluation_id: uuid.UUID) -> list[_Row]:
    """The light columns of every example (no prompt or generated text)."""
    E = models.EvaluationExample
    result = await session.execute(
        select(E.position, E.example_key, E.correct, E.format_ok)
        .where(E.evaluation_id == evaluation_id)
        .order_by(E.position)
    )
    return [_Row(*row) for row in result.all()]


def pair_rows(baseline: list[_Row], candidate: list[_Row]) -> list[tuple[_Row, _Row]]:
    """Pairs in baseline position order; the i-th occurrence of a key on one side pairs
    with its i-th occurrence on the other."""
    waiting: dict[str, list[_Row]] = defaultdict(list)
    for row in reversed(candidate):
        waiting[row.example_key].append(row)  # reversed, so pop() yields position order
    pairs = []
    for row in baseline:
        queue = waiting.get(row.example_key)
        if queue:
            pairs.append((row, queue.pop()))
    return pairs


def _verdict(row: _Row, metric: Metric) -> bool:
    return row.correct if metric == "exact_match" else row.format_ok


def _side(evaluation: models.Evaluation, rows: list[_Row], metric: Metric) -> Side:
    n = len(rows)
    correct = sum(1 for r in rows if _verdict(r, metric))
    return Side(
        evaluation_id=evaluation.id,
        run_id=evaluation.run_id,
        step=evaluation.step,
        dataset_key=evaluation.dataset_key,
        split=evaluation.split,
        scorer_version=evaluation.scorer_version,
        n_evaluated=evaluation.n,
        correct=correct,
        value=correct / n,
        exact_match=sum(1 for r in rows if r.correct) / n,
        format_ok=sum(1 for r in rows if r.format_ok) / n,
    )


async def _read_texts(
    session: AsyncSession, evaluation_id: uuid.UUID, positions: list[int]
) -> dict[int, models.EvaluationExample]:
    if not positions:
        return {}
    E = models.EvaluationExample
    rows = await session.scalars(
        select(E).where(E.evaluation_id == evaluation_id, E.position.in_(positions))
    )
    return {row.position: row for row in rows}


async def compare_evaluations(
    session: AsyncSession,
    baseline_id: uuid.UUID,
    candidate_id: uuid.UUID,
    metric: Metric = "exact_match",
) -> Comparison:
    if metric not in METRICS:
        raise errors.ValidationFailed(f"metric: must be one of {', '.join(METRICS)}")
    baseline = await _read_completed(session, baseline_id, "baseline")
    candidate = await _read_completed(session, candidate_id, "candidate")
    if baseline.scorer_version != candidate.scorer_version:
        raise errors.ValidationFailed(
            f"the evaluations were scored by different scorers ({baseline.scorer_version} "
            f"and {candidate.scorer_version}): their verdicts are not comparable"
        )
    pairs = pair_rows(
        await _read_rows(session, baseline_id), await _read_rows(session, candidate_id)
    )
    if not pairs:
        raise errors.ValidationFailed(
            f"evaluations {baseline_id} and {candidate_id} share no example: "
            "nothing to compare (they were run on different prompts)"
        )
    cells = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    flipped: list[tuple[_Row, _Row]] = []
    for base_row, cand_row in pairs:
        key = (_verdict(base_row, metric), _verdict(cand_row, metric))
        cells[key] += 1
        if key[0] != key[1]:
            flipped.append((base_row, cand_row))
    right_to_wrong, wrong_to_right = cells[(True, False)], cells[(False, True)]
    n_paired = len(pairs)
    low, high = stats.paired_diff_interval(
        cells[(True, True)], right_to_wrong, wrong_to_right, cells[(False, False)]
    )
    shown = flipped[:MAX_FLIPPED_EXAMPLES]
    base_texts = await _read_texts(session, baseline_id, [b.position for b, _ in shown])
    cand_texts = await _read_texts(session, candidate_id, [c.position for _, c in shown])
    examples = [
        _flipped_example(base_texts[b.position], cand_texts[c.position], _verdict(b, metric))
        for b, c in shown
    ]
    return Comparison(
        metric=metric,
        n_paired=n_paired,
        baseline=_side(baseline, [b for b, _ in pairs], metric),
        candidate=_side(candidate, [c for _, c in pairs], metric),
        diff=(wrong_to_right - right_to_wrong) / n_paired,
        diff_ci_low=low,
        diff_ci_high=high,
        flips={"right_to_wrong": right_to_wrong, "wrong_to_right": wrong_to_right},
        mcnemar_p=stats.mcnemar_exact_p(right_to_wrong, wrong_to_right),
        examples=examples,
        examples_truncated=len(flipped) > len(shown),
    )


def _flipped_example(
    base: models.EvaluationExample, cand: models.EvaluationExample, baseline_right: bool
) -> FlippedExample:
    return FlippedExample(
        example_key=base.example_key,
        direction="right_to_wrong" if baseline_right else "wrong_to_right",
        task=base.task,
        prompt=base.prompt,
        expected=base.expected,
        baseline_generated=base.generated,
        baseline_extracted=base.extracted,
        candidate_generated=cand.generated,
        candidate_extracted=cand.extracted,
    )
