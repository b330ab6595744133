"""Sample from a trained run: `python -m tunix_rt.training.sample RUN_DIR "prompt" ...`.

Rebuilds the model from the run's spec.json and tokenizer.model, restores the latest
committed checkpoint (or --step N) and prints greedy completions, one JSON line each.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tunix_rt.training import data, evaluate, presets, tokenizer
from tunix_rt.training import spec as spec_lib
from tunix_rt.training.sft import committed_steps


def restore_model(
    spec: spec_lib.Spec, step: int | None
) -> tuple[presets.BuiltModel, tokenizer.Tokenizer, int]:
    """(model with the checkpoint's weights, tokenizer, restored step)."""
    from tunix.sft import checkpoint_manager

    processor = tokenizer.load_tokenizer(spec)
    steps = committed_steps(spec)
    if not steps:
        raise FileNotFoundError(f"no committed checkpoint in {spec.checkpoints_dir}")
    context = max(1024, spec.hyperparameters.max_seq_length)
    built = presets.build_model(spec, processor.vocab_size, context)
    manager = checkpoint_manager.CheckpointManager(root_directory=str(spec.checkpoints_dir))
    try:
        restored, _ = manager.maybe_restore(
            built.model,
            step=step if step is not None else steps[-1],
            restore_only_lora_params=built.lora,
        )
    finally:
        manager.close()
    return built, processor, int(restored)


def templated(processor: tokenizer.Tokenizer, prompt: str) -> str:
    """The raw prompt in the model's chat template (Gemma's turns for the presets)."""
    return tokenizer.user_prompt_text(processor, prompt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tunix_rt.training.sample")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("prompts", nargs="+", help="raw user prompts (the chat template is added)")
    parser.add_argument("--step", type=int, default=None)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    spec = spec_lib.load_spec(args.run_dir / "spec.json")
    built, processor, step = restore_model(spec, args.step)
    prompts = [templated(processor, p) for p in args.prompts]
    length = evaluate.next_power_of_2(
        max(len(tokenizer.encode_prompt(processor, p)) for p in prompts)
    )
    outputs = evaluate.generate(built, processor, prompts, args.max_new_tokens, length)
    for prompt, text in zip(args.prompts, outputs, strict=True):
        answer = data.extract_answer(text)
        print(json.dumps({"step": step, "prompt": prompt, "generated": text, "answer": answer}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
