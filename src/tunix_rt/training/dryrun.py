"""Dry run: validate spec, model and dataset, train the tokenizer, report lengths and sizes.

A pretrained checkpoint's safetensors headers are checked against its config.json, and its
tokenizer against its embedding (more ids than rows is refused, exit 2).

Writes dry_run.json and emits a dry_run event; never builds real weights (the parameter
count comes from abstract shapes), so it completes in seconds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from tunix_rt.hf import config as hf_config
from tunix_rt.training.batches import plan_seq_length, plan_total_steps
from tunix_rt.training.data import Example
from tunix_rt.training.events import EventChannel
from tunix_rt.training.spec import PresetModel, Spec
from tunix_rt.training.tokenizer import EncodedExample, Tokenizer

BYTES_PER_FLOAT = 4
# weights + gradients + two Adam moments, all float32
TRAINING_COPIES = 4


def length_stats(lengths: list[int]) -> dict[str, float | int]:
    if not lengths:
        return {"min": 0, "mean": 0.0, "p95": 0.0, "max": 0}
    values = np.asarray(lengths)
    return {
        "min": int(values.min()),
        "mean": round(float(values.mean()), 2),
        "p95": round(float(np.percentile(values, 95)), 2),
        "max": int(values.max()),
    }


def check_model(spec: Spec) -> int | None:
    """A pretrained checkpoint with a config.json: its safetensors headers against the
    config (ModelError naming the tensor and both shapes); returns its parameter count.
    Weights are never read."""
    model = spec.model
    if isinstance(model, PresetModel):
        return None
    from tunix_rt.training import presets

    directory = Path(model.path)
    if not hf_config.has_config(directory):
        if model.config_preset is None:
            raise presets.ModelError(
                f"model.path {directory} has no config.json: give model.config_preset"
            )
        return None
    return presets.check_hf_checkpoint(directory, model.family).param_count


def tokenizer_report(tokenizer: Tokenizer, embedding_rows: int | None) -> dict[str, Any]:
    """What dry_run.json says about the tokenizer: its kind and special ids, whether a chat
    template renders the examples, and the embedding rows it must fit in."""
    report = tokenizer.describe()
    report["embedding_rows"] = embedding_rows
    report["format"] = "chat_template" if tokenizer.chat_template is not None else "gemma_turns"
    return report


def estimate_param_count(spec: Spec, vocab_size: int) -> tuple[int | None, str | None]:
    if not isinstance(spec.model, PresetModel):
        count = check_model(spec)
        if count is not None:
            return count, None
        return None, "parameter count is only estimated for presets and config.json checkpoints"
    try:
        from tunix_rt.training import presets

        return presets.estimate_preset_params(spec.model.preset, vocab_size), None
    except ImportError as exc:
        return None, f"training stack not importable ({exc}): parameter count skipped"


def estimate_memory_bytes(spec: Spec, params: int, seq_length: int, vocab: int) -> int:
    batch = spec.hyperparameters.batch_size
    # Activations: a generous 64 floats per token per 128 embedding units, plus the
    # logits and their gradient (batch x seq x vocab), which dominate for tiny models.
    activations = batch * seq_length * (2 * vocab + 64 * 16) * BYTES_PER_FLOAT
    return params * BYTES_PER_FLOAT * TRAINING_COPIES + activations


def build_report(
    spec: Spec,
    train: list[Example],
    holdout: list[Example],
    encoded: list[EncodedExample],
    vocab_size: int,
    started: float,
) -> dict[str, Any]:
    hp = spec.hyperparameters
    lengths = [len(e.tokens) for e in encoded]
    responses = [len(e.tokens) - e.prompt_length for e in encoded]
    max_new = spec.evaluation.max_new_tokens
    truncated = [e for e in encoded if len(e.tokens) > hp.max_seq_length]
    no_loss = [e for e in encoded if e.prompt_length >= hp.max_seq_length]
    seq_length = plan_seq_length(encoded, hp.max_seq_length)
    steps = plan_total_steps(hp.max_steps, hp.num_epochs, len(train), hp.batch_size)
    params, note = estimate_param_count(spec, vocab_size)
    report: dict[str, Any] = {
        "valid": True,
        "train_examples": len(train),
        "holdout_examples": len(holdout),
        "vocab_size": vocab_size,
        "token_lengths": length_stats(lengths),
        "response_token_lengths": length_stats(responses),
        # Evaluation cuts generations at max_new_tokens: longer answers would be lost.
        "responses_longer_than_max_new_tokens": sum(1 for n in responses if n > max_new),
        "max_seq_length": hp.max_seq_length,
        "padded_seq_length": seq_length,
        "truncated_examples": len(truncated),
        "examples_without_response_tokens": len(no_loss),
        "planned_steps": steps,
        "epochs": round(steps * hp.batch_size / max(1, len(train)), 3),
        "parameter_count": params,
        "estimated_memory_bytes": (
            estimate_memory_bytes(spec, params, seq_length, vocab_size) if params else None
        ),
        "wall_s": 0.0,
    }
    if note:
        report["note"] = note
    report["wall_s"] = round(time.perf_counter() - started, 3)
    return report


def write_report(report: dict[str, Any], run_dir: Path, events: EventChannel) -> None:
    target = run_dir / "dry_run.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1), encoding="utf-8")
    tmp.replace(target)
    events.emit("dry_run", report=report)
    lengths = report["token_lengths"]
    print(
        f"dry run: {report['train_examples']} train / {report['holdout_examples']} holdout, "
        f"tokens min {lengths['min']} mean {lengths['mean']} p95 {lengths['p95']} "
        f"max {lengths['max']}, {report['truncated_examples']} truncated at "
        f"{report['max_seq_length']}, params {report['parameter_count']}",
        flush=True,
    )
