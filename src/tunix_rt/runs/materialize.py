"""Turn a claimed run into a run directory the training child can use.

ARTIFACT_ROOT/<run_id>/ gets spec.json (the contract in docs/training.md) and the dataset
splits exported in tunix_sft format. A retry hard-links the old run's checkpoints/ first, so
the trainer resumes from the latest one; a requeued attempt finds its own checkpoints there.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.datasets import store as dataset_store
from tunix_rt.db import models
from tunix_rt.runs.schema import PRESET_MODELS
from tunix_rt.settings import Settings

SPEC_VERSION = 1
DEFAULT_MAX_STEPS = 300
DEFAULT_VOCAB_SIZE = 512
DEFAULTS: dict[str, Any] = {
    "learning_rate": 3e-3,
    "warmup_fraction": 0.1,
    "batch_size": 16,
    "max_seq_length": 128,
    "seed": 0,
    "save_every_steps": 100,
    "keep_checkpoints": 2,
    "eval_max_examples": 200,
    "eval_max_new_tokens": 128,
}
TRAIN_PATH = "data/train.jsonl"
HOLDOUT_PATH = "data/holdout.jsonl"


def run_dir_of(settings: Settings, run_id: object) -> Path:
    return settings.artifacts / str(run_id)


def config_preset_of(model_id: str) -> tuple[str, str]:
    """ "qwen3-0.6b" -> ("qwen3", "qwen3_0p6b")."""
    family = model_id.split("-", 1)[0]
    return family, model_id.replace(".", "p").replace("-", "_")


def resolve_model_path(settings: Settings, model_path: str) -> Path:
    """The real path of a model directory; it must lie under one of settings.model_roots."""
    path = Path(model_path).expanduser().resolve()
    for root in settings.model_roots:
        if path == root or root in path.parents:
            return path
    if not settings.model_roots:
        raise errors.ValidationFailed(
            "model_path: no model roots are configured (set TUNIX_RT_MODEL_ROOTS)"
        )
    raise errors.ValidationFailed("model_path: must lie under one of the configured model roots")


def build_spec(run: models.Run, settings: Settings, run_dir: Path) -> dict[str, Any]:
    req = dict(run.request)

    def pick(name: str) -> Any:
        value = req.get(name)
        return DEFAULTS[name] if value is None else value

    model: dict[str, Any]
    tokenizer: dict[str, Any] = {"kind": "sentencepiece_train", "vocab_size": DEFAULT_VOCAB_SIZE}
    if run.model_id in PRESET_MODELS:
        model = {"preset": run.model_id}
    else:
        path = resolve_model_path(settings, str(req.get("model_path", "")))
        family, config_preset = config_preset_of(run.model_id)
        model = {"family": family, "config_preset": config_preset, "path": str(path)}
        if (path / "tokenizer.model").is_file():
            tokenizer = {"kind": "file", "path": str(path / "tokenizer.model")}
    max_steps = req.get("max_steps")
    num_epochs = req.get("num_epochs")
    if max_steps is None and num_epochs is None:
        max_steps = DEFAULT_MAX_STEPS
    return {
        "spec_version": SPEC_VERSION,
        "run_id": str(run.id),
        "attempt": run.attempt,
        "run_dir": str(run_dir),
        "algorithm": "sft",
        "dry_run": run.dry_run,
        "dataset": {
            "key": run.dataset_key,
            "train_path": TRAIN_PATH,
            "holdout_path": HOLDOUT_PATH,
            "format": "tunix_sft",
        },
        "model": model,
        "tokenizer": tokenizer,
        "hyperparameters": {
            "learning_rate": pick("learning_rate"),
            "warmup_fraction": pick("warmup_fraction"),
            "max_steps": max_steps,
            "num_epochs": num_epochs,
            "batch_size": pick("batch_size"),
            "max_seq_length": pick("max_seq_length"),
            "seed": pick("seed"),
            "lora_rank": req.get("lora_rank"),
            "lora_alpha": req.get("lora_alpha"),
            "save_every_steps": pick("save_every_steps"),
            "keep_checkpoints": pick("keep_checkpoints"),
            "weight_decay": 0.0,
        },
        "evaluation": {
            "max_new_tokens": pick("eval_max_new_tokens"),
            "max_examples": pick("eval_max_examples"),
        },
        "jax_cache_dir": str(settings.jax_cache_dir) if settings.jax_cache_dir else None,
    }


def link_checkpoints(source_dir: Path, run_dir: Path) -> int:
    """Hard-link source_dir/checkpoints into run_dir/checkpoints (copy across filesystems).

    The tokenizer comes along: the checkpoints' embedding rows are indexed by its token ids,
    so a resumed run must not train a new one (the child reuses run_dir/tokenizer.model).
    """
    src = source_dir / "checkpoints"
    dst = run_dir / "checkpoints"
    if not src.is_dir() or dst.exists():
        return 0
    linked = 0
    tokenizer = source_dir / "tokenizer.model"
    if tokenizer.is_file() and not (run_dir / "tokenizer.model").exists():
        try:
            os.link(tokenizer, run_dir / "tokenizer.model")
        except OSError:
            shutil.copy2(tokenizer, run_dir / "tokenizer.model")
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
            linked += 1
    return linked


async def export_split(session: AsyncSession, key: str, split: str, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as fh:
        async for line in dataset_store.iter_export(session, key, fmt="tunix_sft", split=split):
            fh.write(line if line.endswith("\n") else line + "\n")
            count += 1
    tmp.replace(path)
    return count


async def materialize_run(session: AsyncSession, run: models.Run, settings: Settings) -> Path:
    """Write the run directory; returns the path of spec.json."""
    run_dir = run_dir_of(settings, run.id)
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    retry_of = run.request.get("retry_of")
    if retry_of:
        link_checkpoints(run_dir_of(settings, retry_of), run_dir)
    spec = build_spec(run, settings, run_dir)
    await export_split(session, run.dataset_key, "train", run_dir / TRAIN_PATH)
    await export_split(session, run.dataset_key, "holdout", run_dir / HOLDOUT_PATH)
    spec_path = run_dir / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return spec_path
