"""Batches: a deterministic, resumable stream of padded training batches.

Order depends only on (seed, step): epoch e is permutation rng([seed, e]) of the training
set, read in order. Tunix resumes by skipping the batches already consumed, so the same
order on every attempt makes resume exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunix_rt.training.tokenizer import EncodedExample

PAD_ID = 0
LENGTH_MULTIPLE = 8


@dataclass(frozen=True)
class BatchPlan:
    batch_size: int
    seq_length: int  # every batch is padded to this one length: one compiled shape
    total_steps: int
    seed: int
    pad_id: int = PAD_ID  # the tokenizer's pad id: never inside a sequence


def plan_seq_length(encoded: list[EncodedExample], max_seq_length: int) -> int:
    """Pad to the longest example (rounded up to a multiple of 8), never past the limit."""
    longest = max((len(e.tokens) for e in encoded), default=1)
    rounded = -(-longest // LENGTH_MULTIPLE) * LENGTH_MULTIPLE
    return min(max_seq_length, rounded)


def plan_total_steps(
    max_steps: int | None, num_epochs: float | None, n_examples: int, batch_size: int
) -> int:
    if max_steps is not None:
        return max_steps
    if num_epochs is not None:
        return max(1, int(np.ceil(num_epochs * n_examples / batch_size)))
    return 300


def iter_example_indices(n_examples: int, seed: int) -> Iterator[int]:
    epoch = 0
    while True:
        yield from np.random.default_rng([seed, epoch]).permutation(n_examples).tolist()
        epoch += 1


def build_batch(
    chunk: list[EncodedExample], seq_length: int, pad_id: int = PAD_ID
) -> tuple[np.ndarray, np.ndarray]:
    """Tokens right-padded with pad_id; mask = 1 on response tokens only (loss targets)."""
    tokens = np.full((len(chunk), seq_length), pad_id, dtype=np.int32)
    mask = np.zeros((len(chunk), seq_length), dtype=np.int32)
    for row, example in enumerate(chunk):
        ids = example.tokens[:seq_length]
        tokens[row, : len(ids)] = ids
        mask[row, example.prompt_length : len(ids)] = 1
    return tokens, mask


def iter_batches(
    encoded: list[EncodedExample], plan: BatchPlan, stop: Any, tokens_per_step: list[int]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields plan.total_steps batches; ends early (on a step boundary) once stop.requested.

    tokens_per_step[i] receives the real (non-pad) token count of batch i for throughput.
    """
    indices = iter_example_indices(len(encoded), plan.seed)
    for _ in range(plan.total_steps):
        if stop.requested:
            return
        chunk = [encoded[next(indices)] for _ in range(plan.batch_size)]
        tokens, mask = build_batch(chunk, plan.seq_length, plan.pad_id)
        tokens_per_step.append(int((tokens != plan.pad_id).sum()))
        yield tokens, mask
