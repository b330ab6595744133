"""Synthetic datasets: generated traces rendered in the tunix_sft contract, plus a spec.

For tests and benchmarks: writes run_dir/data/{train,holdout}.jsonl exactly as the worker
exports a dataset (holdout prompts never occur in train) and a contract-shaped spec.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunix_rt.datasets import formats
from tunix_rt.traces import generators


def sft_records(task: str, count: int, seed: int, split: str) -> list[dict[str, Any]]:
    """tunix_sft records exactly as a dataset export renders them (the contract)."""
    records = []
    for index, trace in enumerate(generators.generate_traces(task, count, seed)):
        trace_id = f"{task}-{seed}-{split}-{index}"
        steps = [{"i": s.i, "type": s.type, "content": s.content} for s in trace.steps]
        records.append(
            {
                "id": trace_id,
                "prompts": formats.render_sft_prompts(trace.prompt, steps, trace.final_answer),
                "final_answer": trace.final_answer,
                "metadata": {**trace.meta, "trace_id": trace_id},
            }
        )
    return records


def write_dataset(
    run_dir: Path, task: str, train_count: int, holdout_count: int, seed: int = 0
) -> tuple[Path, Path]:
    """Writes run_dir/data/{train,holdout}.jsonl; holdout prompts never occur in train."""
    # One stream: the generators deal problems without replacement, so the records after
    # the training ones are unseen prompts until the task's problems run out (a second seed
    # would mostly deal problems the training set already holds).
    records = sft_records(task, train_count + holdout_count * 3, seed, "all")
    train = records[:train_count]
    seen = {r["prompts"].split("<end_of_turn>")[0] for r in train}
    holdout = [
        r for r in records[train_count:] if r["prompts"].split("<end_of_turn>")[0] not in seen
    ]
    holdout = holdout[:holdout_count]
    data_dir = run_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = data_dir / "train.jsonl", data_dir / "holdout.jsonl"
    for path, rows in zip(paths, (train, holdout), strict=True):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return paths


def write_spec(run_dir: Path, **overrides: Any) -> Path:
    """spec.json in the contract shape; overrides merge one level deep (model and
    tokenizer are replaced whole)."""
    spec: dict[str, Any] = {
        "spec_version": 1,
        "run_id": run_dir.name,
        "attempt": 1,
        "run_dir": str(run_dir),
        "algorithm": "sft",
        "dry_run": False,
        "dataset": {
            "key": "test-v1",
            "train_path": "data/train.jsonl",
            "holdout_path": "data/holdout.jsonl",
            "format": "tunix_sft",
        },
        "model": {"preset": "tiny"},
        "tokenizer": {"kind": "sentencepiece_train", "vocab_size": 512},
        "hyperparameters": {
            "learning_rate": 0.003,
            "warmup_fraction": 0.1,
            "max_steps": 300,
            "num_epochs": None,
            "batch_size": 16,
            "max_seq_length": 128,
            "seed": 0,
            "lora_rank": None,
            "lora_alpha": None,
            "save_every_steps": 100,
            "keep_checkpoints": 2,
            "weight_decay": 0.0,
        },
        "evaluation": {"max_new_tokens": 64, "max_examples": 200},
        "jax_cache_dir": None,
    }
    for key, value in overrides.items():
        if key not in ("model", "tokenizer") and isinstance(value, dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "spec.json"
    path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return path
