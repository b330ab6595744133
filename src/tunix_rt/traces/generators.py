"""Built-in trace generators: small, learnable reasoning tasks with known answers.

Deterministic: the same (task, count, seed) always yields the same traces. The wording is
deliberately plain and regular so a tiny model can learn it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

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

Example = tuple[str, list[str], str]  # prompt, step texts, answer


def make_duel(rng: random.Random) -> Example:
    a, b = rng.randint(2, 14), rng.randint(2, 14)
    suit_a, suit_b = rng.choice(SUITS), rng.choice(SUITS)
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


def make_addition(rng: random.Random) -> Example:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
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


def make_multiplication(rng: random.Random) -> Example:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
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


MAKERS: dict[str, Callable[[random.Random], Example]] = {
    "high_card_duel": make_duel,
    "addition": make_addition,
    "multiplication": make_multiplication,
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


def _iter_traces(
    maker: Callable[[random.Random], Example], task: str, count: int, seed: int
) -> Iterator[TracePayload]:
    rng = random.Random(f"{task}:{seed}")
    for index in range(count):
        prompt, texts, answer = maker(rng)
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
