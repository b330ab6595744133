"""GRPO rewards: a completion's reward from the one scorer's verdict (traces/scorer.py).

reward = reward_correct * correct + reward_format * format_ok
         - length_penalty * completion_tokens / max_new_tokens

The parts are kept apart (the "length" part is the penalty, zero or negative) so rollouts
and metrics can show what a reward is made of; their sum is the total. Correctness and the
format check are the scorer's, never a second extractor: a reward of 1 for "correct" means
exactly what exact match means in an evaluation of the same completion.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunix_rt.traces import scorer

SCORER_VERSION = scorer.SCORER_VERSION


@dataclass(frozen=True)
class RewardWeights:
    correct: float = 1.0
    format: float = 0.2
    length_penalty: float = 0.0
    max_new_tokens: int = 64


@dataclass(frozen=True)
class Reward:
    answer: str | None
    correct: bool
    format_ok: bool
    parts: dict[str, float]  # "correct", "format", "length" (the penalty, <= 0)
    total: float
    scorer_version: str = SCORER_VERSION


def reward_of(
    completion: str, expected: object, completion_tokens: int, weights: RewardWeights
) -> Reward:
    """The reward of one completion (the model's generated text, as the scorer judges an
    evaluation's output) given how many tokens it took."""
    verdict = scorer.score_generation(completion, expected)
    fraction = min(max(completion_tokens, 0), weights.max_new_tokens) / weights.max_new_tokens
    parts = {
        "correct": weights.correct * float(verdict.correct),
        "format": weights.format * float(verdict.format_ok),
        "length": -weights.length_penalty * fraction,
    }
    return Reward(
        answer=verdict.extracted,
        correct=verdict.correct,
        format_ok=verdict.format_ok,
        parts=parts,
        total=parts["correct"] + parts["format"] + parts["length"],
    )
