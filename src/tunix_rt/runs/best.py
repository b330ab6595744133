"""The best checkpoint and the keep-set, as pure functions (no database, no files).

Shared by the run request's validation (runs/schema.py) and retention (runs/retention.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

BestMode = Literal["max", "min"]
DEFAULT_EVAL_METRIC = "eval/exact_match"
MINIMISED_METRICS = frozenset({"loss", "perplexity"})
# loss, perplexity, or any metric the evaluations during training report (eval/<name>,
# eval/exact_match/<class>): printable ASCII without spaces, within run_metrics.name's 64.
BEST_METRIC_PATTERN = r"^(loss|perplexity|eval/[!-~]{1,59})$"
BEST_METRIC_RE = re.compile(BEST_METRIC_PATTERN)


def check_best_metric(name: str) -> str:
    if not BEST_METRIC_RE.match(name):
        raise ValueError(
            "best_metric must be 'loss', 'perplexity' or an evaluation metric 'eval/<name>' "
            f"(printable, no spaces, at most 64 characters), got {name[:80]!r}"
        )
    return name


def default_best_metric(eval_every_steps: int | None, eval_at_checkpoints: bool) -> str | None:
    return DEFAULT_EVAL_METRIC if eval_every_steps or eval_at_checkpoints else None


def default_best_mode(metric: str) -> BestMode:
    return "min" if metric in MINIMISED_METRICS else "max"


def choose_best(values: Mapping[int, float], mode: BestMode) -> tuple[int, float] | None:
    """The (step, value) with the best value; ties go to the earliest step."""
    best: tuple[int, float] | None = None
    for step in sorted(values):
        value = values[step]
        if best is None or (value > best[1] if mode == "max" else value < best[1]):
            best = (step, value)
    return best


def keep_steps(
    steps: Iterable[int], keep_latest: int, best_step: int | None, pinned: Iterable[int]
) -> set[int]:
    """The checkpoint steps retention keeps: the latest `keep_latest`, the best, the pinned."""
    present = set(steps)
    keep = set(sorted(present, reverse=True)[: max(keep_latest, 1)])
    if best_step is not None and best_step in present:
        keep.add(best_step)
    keep.update(present.intersection(pinned))
    return keep
