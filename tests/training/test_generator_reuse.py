"""The greedy generator is compiled once per (model, tokenizer, lengths) in a process and
reused (the end-of-run evaluation reuses the one evaluations during training compiled):
a reused generator must answer exactly as a fresh one, on the model's current weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tunix")

from tunix_rt.training import data, evaluate, presets, sft, synthetic, tokenizer
from tunix_rt.training import spec as spec_lib

NEW_TOKENS = 12


def vocab_size(tokenizer: Any) -> int:
    """The run tokenizer's vocab_size, or a bare SentencePiece processor's piece count."""
    size = getattr(tokenizer, "vocab_size", None)
    return int(size) if isinstance(size, int) else int(tokenizer.GetPieceSize())


def build(tmp_path: Path, jax_cache_dir: str) -> tuple[Any, Any, list[str], int]:
    synthetic.write_dataset(tmp_path, "high_card_duel", 200, 8, seed=0)
    spec = spec_lib.load_spec(synthetic.write_spec(tmp_path, jax_cache_dir=jax_cache_dir))
    train = data.load_examples(spec.resolve(spec.dataset.train_path))
    holdout = data.load_examples(spec.resolve(spec.dataset.holdout_path or ""))
    processor = tokenizer.prepare_tokenizer(spec, train)
    length = evaluate.plan_prompt_length(processor, holdout)
    sft.configure_jax(jax_cache_dir)
    built = presets.build_model(spec, vocab_size(processor), 2 * length + NEW_TOKENS + 1)
    return built, processor, [e.prompt for e in holdout], length


def test_a_reused_generator_answers_like_a_fresh_one_on_current_weights(
    tmp_path: Path, jax_cache_dir: str
) -> None:
    import jax
    from flax import nnx

    built, processor, prompts, length = build(tmp_path, jax_cache_dir)
    first = evaluate.greedy_generator(built, processor, NEW_TOKENS, length)
    assert evaluate.greedy_generator(built, processor, NEW_TOKENS, length) is first
    before = evaluate.generate(built, processor, prompts, NEW_TOKENS, length)
    assert before == evaluate.GreedyGenerator(built, processor, NEW_TOKENS, length)(prompts)

    # New weights (as after more training steps): the reused generator must see them.
    params = nnx.state(built.model, nnx.Param)
    nnx.update(
        built.model,
        jax.tree.map(lambda x: x + jax.random.normal(jax.random.key(1), x.shape, x.dtype), params),
    )
    after = evaluate.generate(built, processor, prompts, NEW_TOKENS, length)
    assert after == evaluate.GreedyGenerator(built, processor, NEW_TOKENS, length)(prompts)
    assert after != before  # the perturbation changed what the model says

    # Other lengths get their own generator; only the newest few are kept.
    other = evaluate.greedy_generator(built, processor, NEW_TOKENS, 2 * length)
    assert other is not first
    evaluate.greedy_generator(built, processor, NEW_TOKENS + 1, length)
    assert len(evaluate._GENERATORS) == evaluate.MAX_CACHED_GENERATORS
    assert evaluate.greedy_generator(built, processor, NEW_TOKENS, length) is not first
