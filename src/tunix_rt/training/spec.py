"""Spec: the run specification the worker writes as spec.json (contract in docs/training.md).

Imports nothing from the training stack, so a spec can be validated (and a clear exit 2
given) even where jax is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

SPEC_VERSION = 1
# Byte fallback needs 256 byte pieces plus the specials and a few merges.
MIN_VOCAB_SIZE = 300
MAX_VOCAB_SIZE = 262_144


class SpecError(ValueError):
    """The spec file is unreadable or invalid; the message names every bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    key: str = "dataset"
    train_path: str = "data/train.jsonl"
    holdout_path: str | None = "data/holdout.jsonl"
    format: Literal["tunix_sft", "chat"] = "tunix_sft"


class PresetModel(_Strict):
    preset: Literal["tiny", "small"]


class PretrainedModel(_Strict):
    family: Literal["gemma3", "qwen3", "qwen2", "llama3"]
    # A named Tunix config; None: the architecture comes from path/config.json (any size).
    config_preset: str | None = Field(default=None, min_length=1)
    path: str = Field(min_length=1)


def _model_kind(value: object) -> str:
    if isinstance(value, dict):
        return "preset" if "preset" in value else "pretrained"
    return "preset" if isinstance(value, PresetModel) else "pretrained"


ModelSpec = Annotated[
    Annotated[PresetModel, Tag("preset")] | Annotated[PretrainedModel, Tag("pretrained")],
    Discriminator(_model_kind),
]


class TrainedTokenizer(_Strict):
    kind: Literal["sentencepiece_train"]
    vocab_size: int = Field(default=512, ge=MIN_VOCAB_SIZE, le=MAX_VOCAB_SIZE)


class FileTokenizer(_Strict):
    kind: Literal["file"]
    path: str = Field(min_length=1)


class HFTokenizer(_Strict):
    """A model directory's own tokenizer (tokenizer.json or tokenizer.model), its special
    tokens and its chat template (tokenizer_config.json)."""

    kind: Literal["hf"]
    path: str = Field(min_length=1)


TokenizerSpec = Annotated[
    TrainedTokenizer | FileTokenizer | HFTokenizer, Field(discriminator="kind")
]


class MeshSpec(_Strict):
    """A device mesh of data x model devices (training/devices.py). The run needs exactly
    data * model local devices (the child exits 2 naming the count it has); batch_size must
    divide by data."""

    data: int = Field(default=1, ge=1, le=4096)
    model: int = Field(default=1, ge=1, le=4096)


class Hyperparameters(_Strict):
    learning_rate: float = Field(default=3e-3, gt=0, le=1)
    warmup_fraction: float = Field(default=0.1, ge=0, lt=1)
    max_steps: int | None = Field(default=None, ge=1, le=10_000_000)
    num_epochs: float | None = Field(default=None, gt=0, le=10_000)
    batch_size: int = Field(default=16, ge=1, le=4096)
    max_seq_length: int = Field(default=128, ge=8, le=32_768)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    lora_rank: int | None = Field(default=None, ge=1, le=1024)
    lora_alpha: float | None = Field(default=None, gt=0)
    save_every_steps: int = Field(default=100, ge=1)
    keep_checkpoints: int = Field(default=2, ge=1, le=100)
    weight_decay: float = Field(default=0.0, ge=0, le=1)
    # Weights and compute; the loss and the optimizer's moments stay float32 (docs/training.md).
    dtype: Literal["float32", "bfloat16"] = "float32"
    # None: one device (the first local one), no mesh.
    mesh: MeshSpec | None = None


class EvaluationSpec(_Strict):
    max_new_tokens: int = Field(default=64, ge=1, le=4096)
    max_examples: int = Field(default=200, ge=0, le=100_000)
    # Evaluations during training: every N steps, on the first subset_size holdout examples
    # (the holdout is in content order, so the subset is pinned), as eval/* metrics.
    every_steps: int | None = Field(default=None, ge=1)
    subset_size: int = Field(default=32, ge=1, le=10_000)
    # Also at every checkpoint step (save_every_steps and the final step), on the same subset.
    at_checkpoints: bool = False
    # task "evaluate": the committed checkpoint step (under checkpoints/) to restore.
    checkpoint_step: int | None = Field(default=None, ge=0)

    @property
    def during_training(self) -> bool:
        return bool(self.every_steps or self.at_checkpoints)


class ExportSpec(_Strict):
    """Task "export": the committed checkpoint to export and the format (training/export.py)."""

    format: Literal["hf", "peft"]
    checkpoint_step: int = Field(ge=0)
    # Merged safetensors are split into files of at most this many bytes (transformers: 5 GB).
    max_shard_bytes: int = Field(default=5 * 1024**3, ge=1024)


class GRPOSpec(_Strict):
    """Algorithm "grpo" (training/grpo.py): group-relative policy optimisation with Tunix."""

    num_generations: int = Field(default=4, ge=2, le=64)  # completions per prompt (a group)
    # Policy updates per batch of rollouts: 1 for now (see runs/schema.py GRPOSpec).
    num_iterations: int = Field(default=1, ge=1, le=1)
    beta: float = Field(default=0.04, ge=0, le=10)  # KL to the reference (initial) policy
    epsilon: float = Field(default=0.2, gt=0, le=1)  # clipping
    temperature: float = Field(default=0.9, gt=0, le=5)  # sampling temperature of rollouts
    max_new_tokens: int = Field(default=64, ge=1, le=4096)
    reward_correct: float = Field(default=1.0, ge=0, le=100)  # answer == expected (shared scorer)
    reward_format: float = Field(default=0.2, ge=0, le=100)  # format compliance (shared scorer)
    length_penalty: float = Field(default=0.0, ge=0, le=100)  # penalty for completion length
    rollout_every_steps: int = Field(default=10, ge=1)  # store sampled completions every N steps
    rollout_prompts: int = Field(default=4, ge=1, le=256)  # ...of this many prompts


class InitSpec(_Strict):
    """A committed checkpoint of the source (SFT) run, linked by the worker into the attempt
    dir: <run_dir>/<checkpoint_dir>/<step>/ exactly as the source run wrote it (Orbax; LoRA
    params only for a LoRA run: base weights come from spec.model's directory)."""

    checkpoint_dir: str = "init/checkpoints"
    step: int = Field(ge=0)
    source_run_id: str | None = None


class Spec(_Strict):
    spec_version: Literal[1] = 1
    run_id: str = Field(default="local", min_length=1)
    attempt: int = Field(default=1, ge=1)
    run_dir: str = Field(min_length=1)
    algorithm: Literal["sft", "grpo"] = "sft"
    # "evaluate": restore evaluation.checkpoint_step and evaluate dataset.holdout_path (an
    # evaluation job); "train": train, then evaluate.
    task: Literal["train", "evaluate", "export"] = "train"
    dry_run: bool = False
    dataset: DatasetSpec = DatasetSpec()
    model: ModelSpec = PresetModel(preset="tiny")
    tokenizer: TokenizerSpec = TrainedTokenizer(kind="sentencepiece_train")
    hyperparameters: Hyperparameters = Hyperparameters()
    evaluation: EvaluationSpec = EvaluationSpec()
    jax_cache_dir: str | None = None
    export: ExportSpec | None = None
    grpo: GRPOSpec | None = None
    init: InitSpec | None = None

    @model_validator(mode="after")
    def _check_combinations(self) -> Spec:
        hp = self.hyperparameters
        if hp.max_steps is not None and hp.num_epochs is not None:
            raise ValueError("hyperparameters: give max_steps or num_epochs, not both")
        if hp.lora_alpha is not None and hp.lora_rank is None:
            raise ValueError("hyperparameters.lora_alpha needs lora_rank")
        if hp.lora_rank is not None and isinstance(self.model, PresetModel):
            raise ValueError("hyperparameters.lora_rank needs a pretrained model, not a preset")
        if self.task == "evaluate" and (
            self.evaluation.checkpoint_step is None or not self.dataset.holdout_path
        ):
            raise ValueError(
                "task evaluate needs evaluation.checkpoint_step and dataset.holdout_path"
            )
        if self.task == "export" and self.export is None:
            raise ValueError("task export needs export")
        if self.algorithm == "grpo" and self.task == "train" and self.grpo is None:
            raise ValueError("algorithm grpo with task train needs grpo")
        if hp.mesh is not None and hp.batch_size % hp.mesh.data:
            raise ValueError(
                f"hyperparameters.batch_size {hp.batch_size} must be divisible by "
                f"mesh.data {hp.mesh.data}"
            )
        if not Path(self.run_dir).is_absolute():
            raise ValueError("run_dir must be an absolute path")
        return self

    @property
    def root(self) -> Path:
        return Path(self.run_dir)

    def resolve(self, path: str) -> Path:
        """Relative paths in a spec are relative to run_dir."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.root / candidate

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def lora_alpha(self) -> float:
        hp = self.hyperparameters
        return hp.lora_alpha if hp.lora_alpha is not None else float(2 * (hp.lora_rank or 1))


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad field: `hyperparameters.batch_size: Input should be >= 1`."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "spec"
        lines.append(f"{where}: {error['msg']}")
    return "invalid spec: " + "; ".join(lines)


def parse_spec(data: object) -> Spec:
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc)) from exc


def load_spec(path: Path) -> Spec:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SpecError(f"spec file not found: {path}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(f"spec file {path} is not valid JSON: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("run_dir"), str):
        # A relative run_dir (the worker writes ".") is relative to the spec's own directory.
        data["run_dir"] = str((path.parent / data["run_dir"]).absolute())
    return parse_spec(data)
