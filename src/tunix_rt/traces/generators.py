"""Built-in trace generators: small, learnable reasoning tasks with known answers.

Deterministic: the same (task, count, seed) always yields the same traces. The wording is
deliberately plain and regular so a tiny model can learn it. Problems are dealt without
replacement (a duel uses two different cards of one deck; no prompt repeats within one call
until every distinct problem of the task has been dealt).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar

from tunix_rt import errors
from tunix_rt.traces.schema import TracePayload, TraceStep

TASKS = ("high_card_duel", "addition", "multiplication")
TRACE_VERSION = "1"
SUITS = ("clubs", "diamonds", "hearts", "spades")
# rank value -> (short name used in steps, long name used in prompts)
CARDS = {r: (str(r), str(r)) for r in range(2, 11)} | {
    11: ("J", "jack"),
    12: ("Q", "queen"),
    13: ("K", "king"),
    14: ("A", "ace"),
}

T = TypeVar("T")
Example = tuple[str, list[str], str]  # prompt, step texts, answer
Card = tuple[int, str]  # rank value, suit
Duel = tuple[Card, Card]
Operands = tuple[int, int]

DECK: list[Card] = [(rank, suit) for rank in CARDS for suit in SUITS]
# Two different cards from one deck: the same card is never dealt to both players.
DUELS: list[Duel] = [(a, b) for a in DECK for b in DECK if a != b]
TWO_DIGIT_PAIRS: list[Operands] = [(a, b) for a in range(10, 100) for b in range(10, 100)]


def render_duel(duel: Duel) -> Example:
    (a, suit_a), (b, suit_b) = duel
    prompt = (
        f"Player A draws the {CARDS[a][1]} of {suit_a} and player B draws the "
        f"{CARDS[b][1]} of {suit_b}. Aces are high. Who wins?"
    )
    steps = [f"A has {CARDS[a][0]}, rank {a}", f"B has {CARDS[b][0]}, rank {b}"]
    if a > b:
        steps.append(f"{a} > {b}, so A wins")
        answer = "A"
    elif b > a:
        steps.append(f"{b} > {a}, so B wins")
        answer = "B"
    else:
        steps.append(f"{a} = {b}, so it is a tie")
        answer = "tie"
    return prompt, steps, answer


def render_addition(operands: Operands) -> Example:
    a, b = operands
    ones = a % 10 + b % 10
    steps = []
    if ones >= 10:
        steps.append(f"ones: {a % 10} + {b % 10} = {ones}, write {ones - 10} carry 1")
    else:
        steps.append(f"ones: {a % 10} + {b % 10} = {ones}, write {ones}")
    carry = ones // 10
    tens = a // 10 + b // 10 + carry
    carry_text = f" + {carry}" if carry else ""
    steps.append(f"tens: {a // 10} + {b // 10}{carry_text} = {tens}, write {tens}")
    steps.append(f"so {a} + {b} = {a + b}")
    return f"What is {a} + {b}?", steps, str(a + b)


def render_multiplication(operands: Operands) -> Example:
    a, b = operands
    tens, ones = (b // 10) * 10, b % 10
    steps = [f"split {b} into {tens} + {ones}"]
    partials = []
    for part in (tens, ones):
        if part:
            steps.append(f"{a} x {part} = {a * part}")
            partials.append(a * part)
    if len(partials) > 1:
        steps.append(f"{' + '.join(map(str, partials))} = {a * b}")
    steps.append(f"so {a} x {b} = {a * b}")
    return f"What is {a} x {b}?", steps, str(a * b)


def deal(problems: Sequence[T], count: int, rng: random.Random) -> Iterator[T]:
    """`count` problems without replacement: each round is a seeded shuffle of all of them,
    so no problem repeats before every other one has been dealt."""
    while count > 0:
        order = list(problems)
        rng.shuffle(order)
        yield from order[:count]
        count -= len(order)


class Maker(NamedTuple):
    problems: Sequence[Any]
    render: Callable[[Any], Example]


MAKERS: dict[str, Maker] = {
    "high_card_duel": Maker(DUELS, render_duel),
    "addition": Maker(TWO_DIGIT_PAIRS, render_addition),
    "multiplication": Maker(TWO_DIGIT_PAIRS, render_multiplication),
}


def generate_traces(task: str, count: int, seed: int) -> list[TracePayload]:
    """`count` traces of `task`; each has meta.source, meta.task and meta.expected_answer."""
    return list(iter_traces(task, count, seed))


def iter_traces(task: str, count: int, seed: int) -> Iterator[TracePayload]:
    """Lazily yield what generate_traces returns (same traces, same order)."""
    maker = MAKERS.get(task)
    if maker is None:
        raise errors.ValidationFailed(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if count < 0:
        raise errors.ValidationFailed("count must be >= 0")
    return _iter_traces(maker, task, count, seed)


def _iter_traces(maker: Maker, task: str, count: int, seed: int) -> Iterator[TracePayload]:
    rng = random.Random(f"{task}:{seed}")
    for index, problem in enumerate(deal(maker.problems, count, rng)):
        prompt, texts, answer = maker.render(problem)
        # model_construct: the generators' output is known-valid (tests validate it).
        steps = [
            TraceStep.model_construct(i=i, type="reasoning", content=t) for i, t in enumerate(texts)
        ]
        meta = {
            "source": f"generator:{task}",
            "task": task,
            "expected_answer": answer,
            "seed": seed,
            "index": index,
        }
        yield TracePayload.model_construct(
            trace_version=TRACE_VERSION,
            prompt=prompt,
            final_answer=answer,
            steps=steps,
            meta=meta,
        )
