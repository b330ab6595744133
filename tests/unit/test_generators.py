"""Built-in generators: deterministic by seed, valid payloads, correct answers."""

from __future__ import annotations

import re

import pytest

from tunix_rt import errors
from tunix_rt.traces.generators import TASKS, generate_traces, iter_traces
from tunix_rt.traces.schema import TracePayload

RANKS = {"jack": 11, "queen": 12, "king": 13, "ace": 14} | {str(n): n for n in range(2, 11)}


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_traces_and_valid(task: str) -> None:
    first = generate_traces(task, 50, seed=7)
    assert [t.model_dump() for t in first] == [t.model_dump() for t in generate_traces(task, 50, 7)]
    assert [t.model_dump() for t in first] != [t.model_dump() for t in generate_traces(task, 50, 8)]
    for trace in first:
        TracePayload.model_validate(trace.model_dump())  # constructed payloads pass validation
        assert trace.meta["source"] == f"generator:{task}"
        assert trace.meta["task"] == task
        assert trace.meta["expected_answer"] == trace.final_answer
        assert [s.i for s in trace.steps] == list(range(len(trace.steps)))


def test_iter_traces_matches_list() -> None:
    assert list(iter_traces("addition", 20, 3)) == generate_traces("addition", 20, 3)


def test_addition_answers_equal_the_sum() -> None:
    for trace in generate_traces("addition", 300, seed=1):
        a, b = map(int, re.fullmatch(r"What is (\d+) \+ (\d+)\?", trace.prompt).groups())  # type: ignore[union-attr]
        assert 10 <= a <= 99 and 10 <= b <= 99
        assert trace.final_answer == str(a + b)
        ones, tens = trace.steps[0].content, trace.steps[1].content
        assert ones.startswith(f"ones: {a % 10} + {b % 10} = {a % 10 + b % 10}")
        assert ("carry 1" in ones) == (a % 10 + b % 10 >= 10)
        assert trace.steps[-1].content == f"so {a} + {b} = {a + b}"
        assert tens.endswith(f"write {(a + b) // 10}")


def test_multiplication_answers_and_partial_products() -> None:
    for trace in generate_traces("multiplication", 300, seed=2):
        a, b = map(int, re.fullmatch(r"What is (\d+) x (\d+)\?", trace.prompt).groups())  # type: ignore[union-attr]
        assert trace.final_answer == str(a * b)
        partials = [
            int(m.group(1))
            for s in trace.steps
            if (m := re.fullmatch(rf"{a} x \d+ = (\d+)", s.content))
        ]
        assert sum(partials) == a * b


def test_duel_winner_follows_ranks() -> None:
    answers = set()
    for trace in generate_traces("high_card_duel", 500, seed=3):
        m = re.fullmatch(
            r"Player A draws the (\w+) of \w+ and player B draws the (\w+) of \w+\. "
            r"Aces are high\. Who wins\?",
            trace.prompt,
        )
        assert m is not None, trace.prompt
        a, b = RANKS[m.group(1)], RANKS[m.group(2)]
        expected = "A" if a > b else "B" if b > a else "tie"
        assert trace.final_answer == expected
        assert trace.steps[0].content.endswith(f"rank {a}")
        assert trace.steps[1].content.endswith(f"rank {b}")
        answers.add(trace.final_answer)
    assert answers == {"A", "B", "tie"}


def test_unknown_task_is_rejected() -> None:
    with pytest.raises(errors.ValidationFailed, match="unknown task"):
        generate_traces("poetry", 1, 0)


DUEL_PROMPT = re.compile(
    r"Player A draws the (\w+) of (\w+) and player B draws the (\w+) of (\w+)\. "
    r"Aces are high\. Who wins\?"
)


def test_duel_never_deals_the_same_card_to_both_players() -> None:
    # 3,000 deals: with replacement about 58 of them would give both players the same card.
    for seed in (0, 1):
        for trace in generate_traces("high_card_duel", 3000, seed=seed):
            m = DUEL_PROMPT.fullmatch(trace.prompt)
            assert m is not None, trace.prompt
            assert (m.group(1), m.group(2)) != (m.group(3), m.group(4)), trace.prompt


@pytest.mark.parametrize(("task", "distinct"), [("high_card_duel", 52 * 51), ("addition", 90 * 90)])
def test_no_prompt_repeats_until_every_problem_was_dealt(task: str, distinct: int) -> None:
    traces = generate_traces(task, distinct + 10, seed=4)
    first_round = [t.prompt for t in traces[:distinct]]
    assert len(set(first_round)) == distinct
    # The next round starts over: its prompts are ones already dealt.
    assert {t.prompt for t in traces[distinct:]} <= set(first_round)


def test_multiplication_prompts_do_not_repeat_within_one_call() -> None:
    prompts = [t.prompt for t in generate_traces("multiplication", 2000, seed=5)]
    assert len(set(prompts)) == len(prompts)
