"""GRPO prompts: the prompt part of the training examples, in a deterministic order.

A prompt is what the sampler receives for an evaluation of the same example (the model's
chat template, or Gemma's turns for the presets: tokenizer.prompt_text); its expected
answer travels with it through the batch, so rewards judge each completion against its
own example. Order depends only on (seed, step), like SFT batches (training/batches.py):
Tunix resumes by skipping the batches already consumed, so a resumed run sees the same
prompts at the same steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunix_rt.training import data
from tunix_rt.training.batches import iter_example_indices
from tunix_rt.training.tokenizer import Tokenizer, encode_prompt_text, prompt_text


@dataclass(frozen=True)
class Prompt:
    text: str  # rendered for the model (chat template / Gemma turns)
    user_prompt: str  # the raw user text, for rollout files
    expected: str


def load_prompts(tokenizer: Tokenizer, examples: list[data.Example]) -> list[Prompt]:
    return [
        Prompt(
            text=prompt_text(tokenizer, e), user_prompt=e.user_prompt, expected=e.expected_answer
        )
        for e in examples
    ]


def longest_prompt(tokenizer: Tokenizer, prompts: list[Prompt]) -> int:
    return max((len(encode_prompt_text(tokenizer, p.text)) for p in prompts), default=1)


def step_seed(seed: int, step: int) -> int:
    """The sampling seed of a step's rollouts: fixed by (seed, step), so a resumed run
    samples what the uninterrupted one sampled."""
    return int(np.random.default_rng([seed, step, 0x6A09]).integers(0, 2**31 - 1))


def iter_prompt_batches(
    prompts: list[Prompt],
    batch_size: int,
    total_steps: int,
    seed: int,
    stop: Any,
    before_step: Callable[[int], None] | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Batches for GRPOLearner: numpy arrays (Tunix repeats every field num_generations
    times), `prompts` plus what the rewards and rollout files need. Ends early, on a step
    boundary, once stop.requested. `before_step(step)` runs as batch `step` is taken (just
    before its rollouts), also for batches a resumed run skips."""
    indices = iter_example_indices(len(prompts), seed)
    for step in range(1, total_steps + 1):
        if stop.requested:
            return
        chosen = [next(indices) for _ in range(batch_size)]
        if before_step is not None:
            before_step(step)
        yield {
            "prompts": np.array([prompts[i].text for i in chosen], dtype=object),
            "expected": np.array([prompts[i].expected for i in chosen], dtype=object),
            "user_prompt": np.array([prompts[i].user_prompt for i in chosen], dtype=object),
            "example_index": np.array(chosen, dtype=np.int64),
            "batch_step": np.full(batch_size, step, dtype=np.int64),
        }
