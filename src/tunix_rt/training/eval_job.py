"""Task "evaluate": restore one committed checkpoint and evaluate it (an evaluation job).

The model is built exactly as its run built it (the spec carries the run's model and LoRA
shape; the run's tokenizer is in run_dir), the checkpoint's parameters are restored over it
(only the LoRA parameters for a LoRA run: the base weights come from the model directory),
and the examples of dataset.holdout_path are evaluated greedily into eval.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunix_rt.training import data, environment
from tunix_rt.training import spec as spec_lib
from tunix_rt.training.events import EventChannel


class CheckpointMissing(data.DatasetError):
    """The checkpoint to evaluate is not in run_dir (exit 2: the job's inputs are wrong)."""


def restore_checkpoint(
    spec: spec_lib.Spec, built: Any, step: int, root: Path | None = None, label: str = "checkpoint"
) -> None:
    """Restore committed step `step` of root (default: the run's checkpoints/) into built's
    model: only the LoRA parameters for a LoRA model (the base comes from its directory)."""
    from tunix.sft import checkpoint_manager

    root = root or spec.checkpoints_dir
    if not (root / str(step)).is_dir():
        raise CheckpointMissing(f"{label} {step} is not in {root}")
    manager = checkpoint_manager.CheckpointManager(str(root))
    try:
        restored, _meta = manager.maybe_restore(
            built.model, step=step, restore_only_lora_params=built.lora
        )
    finally:
        manager.close()
    if restored != step:
        raise CheckpointMissing(f"{label} {step} could not be restored (got {restored})")


def run_evaluate(spec: spec_lib.Spec, events: EventChannel) -> None:
    environment.require_stack()
    from tunix_rt.training import evaluate, presets, sft, tokenizer

    assert spec.dataset.holdout_path is not None and spec.evaluation.checkpoint_step is not None
    step = spec.evaluation.checkpoint_step
    examples = data.load_examples(spec.resolve(spec.dataset.holdout_path))
    if not examples:
        raise data.DatasetError(f"{spec.dataset.holdout_path} has no examples")
    examples = examples[: spec.evaluation.max_examples]
    events.phase("tokenize")
    tok = tokenizer.prepare_tokenizer(spec, [])
    tokenizer.check_vocab(spec, tok)
    prompt_length = evaluate.plan_prompt_length(tok, examples)
    sft.configure_jax_for(spec)
    context = prompt_length + spec.evaluation.max_new_tokens + 1
    events.phase("load")
    built = presets.build_model(spec, tok.vocab_size, context)
    restore_checkpoint(spec, built, step)
    print(
        f"model {built.param_count:,} parameters{' (LoRA)' if built.lora else ''} restored "
        f"from checkpoint {step}; evaluating {len(examples)} examples",
        flush=True,
    )
    events.phase("evaluate")
    evaluate.evaluate_run(spec, built, tok, examples, events, step)
    events.phase("done")
