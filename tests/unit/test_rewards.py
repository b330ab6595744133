"""GRPO rewards are the one scorer's verdict, weighted: never a second answer extractor."""

from __future__ import annotations

import pytest

from tunix_rt.traces import scorer
from tunix_rt.training.rewards import SCORER_VERSION, RewardWeights, reward_of

WEIGHTS = RewardWeights(correct=1.0, format=0.2, length_penalty=0.5, max_new_tokens=32)
COMPLETIONS = [
    # (completion, expected): right, wrong, bad format, no answer, hedged, case/period
    ("Reasoning:\n1. A has A, rank 14\n2. 14 > 10, so A wins\nAnswer: A<end_of_turn>", "A"),
    ("Reasoning:\n1. A has 3, rank 3\n2. 3 < 10, so B wins\nAnswer: B<end_of_turn>", "A"),
    ("A wins because 14 > 10\nAnswer: A", "A"),
    ("Reasoning:\n1. A has A, rank 14\n2. 14 > 10", "A"),
    ("Reasoning:\n1. x\nAnswer: A\nAnswer: B", "A"),
    ("Answer:  tie. <end_of_turn>", "Tie"),
]


@pytest.mark.parametrize(("completion", "expected"), COMPLETIONS)
def test_reward_is_the_scorers_verdict_weighted(completion: str, expected: str) -> None:
    verdict = scorer.score_generation(completion, expected)
    reward = reward_of(completion, expected, completion_tokens=8, weights=WEIGHTS)
    assert reward.answer == verdict.extracted
    assert reward.correct is verdict.correct and reward.format_ok is verdict.format_ok
    assert reward.parts == {
        "correct": 1.0 if verdict.correct else 0.0,
        "format": 0.2 if verdict.format_ok else 0.0,
        "length": -0.5 * 8 / 32,
    }
    assert reward.total == pytest.approx(sum(reward.parts.values()))
    assert reward.scorer_version == SCORER_VERSION == scorer.SCORER_VERSION


def test_the_cases_cover_right_wrong_and_bad_format() -> None:
    verdicts = [scorer.score_generation(c, e) for c, e in COMPLETIONS]
    assert [v.correct for v in verdicts] == [True, False, True, False, False, True]
    assert [v.format_ok for v in verdicts] == [True, True, False, False, False, True]
    totals = [reward_of(c, e, 0, WEIGHTS).total for c, e in COMPLETIONS]
    assert totals == pytest.approx([1.2, 0.2, 1.0, 0.0, 0.0, 1.2])


def test_length_penalty_grows_with_tokens_and_is_capped_at_max_new_tokens() -> None:
    text, expected = COMPLETIONS[0]
    short = reward_of(text, expected, 4, WEIGHTS)
    long = reward_of(text, expected, 32, WEIGHTS)
    beyond = reward_of(text, expected, 100, WEIGHTS)
    assert short.parts["length"] == pytest.approx(-0.0625)
    assert long.parts["length"] == beyond.parts["length"] == pytest.approx(-0.5)
    assert long.total == pytest.approx(0.7)
    unpenalised = reward_of(text, expected, 32, RewardWeights(max_new_tokens=32))
    assert unpenalised.parts["length"] == 0.0 and unpenalised.total == pytest.approx(1.2)
