"""Turn a claimed run attempt into a directory the training child can use.

Each attempt gets its own directory, ARTIFACT_ROOT/<run_id>/attempts/<fence>/, with
spec.json (the contract in docs/training.md) and the dataset splits exported in tunix_sft
format. A process that lost the run may still be writing into its own attempt directory;
nothing of the new attempt is shared with it. The new attempt starts from the last committed
checkpoint handed over to it: the newest checkpoint artifact row of the run (rows are only
written by the attempt that owned the run, after Orbax committed the step), or of the run it
retries. That checkpoint and its tokenizer are hard-linked into the attempt directory (the
embedding rows are indexed by that tokenizer's ids), so the trainer resumes from it.

A run started from another run's checkpoint (init_from: a GRPO run from an SFT run) gets
that checkpoint under init/checkpoints/<step> and that run's tokenizer file as
init/tokenizer.model, and keeps its model, tokenizer and LoRA shape (model_run_of). Jobs
that restore a run's checkpoint (evaluations, exports) link it the same way
(link_source_checkpoint) and build their spec from that run's (source_spec).

spec.json is downloadable, so it holds no absolute server path: run_dir is "." (the spec's
own directory) and the JAX cache directory reaches the child through the environment.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.datasets import store as dataset_store
from tunix_rt.db import models
from tunix_rt.hf import config as hf_config
from tunix_rt.runs import artifacts
from tunix_rt.runs import checkpoints as run_checkpoints
from tunix_rt.runs.schema import (
    DEFAULT_BATCH_SIZE,
    MODEL_ID_FROM_CONFIG,
    PRESET_MODELS,
    RunRequest,
)
from tunix_rt.settings import Settings

SPEC_VERSION = 1
DEFAULT_MAX_STEPS = 300
DEFAULT_VOCAB_SIZE = 512
DEFAULTS: dict[str, Any] = {
    "learning_rate": 3e-3,
    "warmup_fraction": 0.1,
    "batch_size": DEFAULT_BATCH_SIZE,
    "max_seq_length": 128,
    "seed": 0,
    "save_every_steps": 100,
    "keep_checkpoints": 2,
    "eval_max_examples": 200,
    "eval_max_new_tokens": 128,
    "eval_subset_size": 32,
}
TRAIN_PATH = "data/train.jsonl"
HOLDOUT_PATH = "data/holdout.jsonl"
TOKENIZER_FILE = "tokenizer.model"
# A model directory holding one of these has its own tokenizer (tokenizer kind "hf").
MODEL_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
JAX_CACHE_ENV = "TUNIX_RT_JAX_CACHE_DIR"
# A run started from another run's checkpoint (init_from) gets it here, apart from its own
# checkpoints/ (which a resumed attempt restores instead), with that run's tokenizer file.
INIT_CHECKPOINTS_DIR = "init/checkpoints"
INIT_TOKENIZER_FILE = "init/tokenizer.model"
# Where a run's tokenizer file lies: its own, or the one it started from.
TOKENIZER_NAMES = (TOKENIZER_FILE, INIT_TOKENIZER_FILE)
MAX_INIT_CHAIN = 32


def run_dir_of(settings: Settings, run_id: object) -> Path:
    return settings.artifacts / str(run_id)


def attempt_dir_of(settings: Settings, run_id: object, fence: int) -> Path:
    return run_dir_of(settings, run_id) / artifacts.attempt_dir_of(fence)


def child_env(settings: Settings) -> dict[str, str]:
    """Environment the worker adds for the child (server paths stay out of spec.json)."""
    return {JAX_CACHE_ENV: str(settings.jax_cache_dir)} if settings.jax_cache_dir else {}


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


def _family_of_config(path: Path, model_id: str) -> str:
    try:
        return hf_config.family_of(hf_config.read_config(path))
    except hf_config.CheckpointError:
        # Changed since it was submitted: the child reports what is wrong with it (exit 2).
        return model_id.split("-", 1)[0]


def check_model_request(settings: Settings, request: RunRequest) -> None:
    """Submit-time checks of a model directory (cheap: config.json and safetensors headers,
    no weights). Names a request that gave only model_path <family>-<size> from them."""
    if request.model_path is None:
        return
    path = resolve_model_path(settings, request.model_path)
    from_config = request.model_id == MODEL_ID_FROM_CONFIG
    if not hf_config.has_config(path):
        if from_config:
            raise errors.ValidationFailed(
                f"model_path: {request.model_path} has no config.json; give model_id "
                "<family>-<size> (a Tunix preset of that shape)"
            )
        return
    try:
        checkpoint = hf_config.inspect_checkpoint(path)
    except hf_config.CheckpointError as exc:
        raise errors.ValidationFailed(f"model_path: {exc}") from exc
    family = checkpoint.arch.family
    if from_config:
        request.model_id = f"{family}-{hf_config.size_label(checkpoint.param_count)}"
    elif request.model_id.split("-", 1)[0] != family:
        raise errors.ValidationFailed(
            f"model_id {request.model_id} names another family than {request.model_path}/"
            f"config.json ({family})"
        )


def build_spec(
    run: models.Run, settings: Settings, model_run: models.Run | None = None
) -> dict[str, Any]:
    """The spec of a run. Its model, tokenizer, LoRA shape and max_seq_length are those of
    `model_run` (see model_run_of: the run an init_from chain starts at), default `run`."""
    req = dict(run.request)
    base = model_run or run
    base_req = dict(base.request)

    def pick(name: str) -> Any:
        value = req.get(name)
        return DEFAULTS[name] if value is None else value

    model: dict[str, Any]
    tokenizer: dict[str, Any] = {"kind": "sentencepiece_train", "vocab_size": DEFAULT_VOCAB_SIZE}
    if base.model_id in PRESET_MODELS:
        model = {"preset": base.model_id}
    else:
        given = str(base_req.get("model_path", ""))
        path = resolve_model_path(settings, given)
        # The path as the user gave it (checked to resolve under a model root), not its
        # resolved form: spec.json is shown to clients.
        shown = Path(given).expanduser()
        if hf_config.has_config(path):
            # The architecture comes from config.json, any size; the child checks it.
            model = {"family": _family_of_config(path, base.model_id), "path": str(shown)}
        else:
            family, config_preset = config_preset_of(base.model_id)
            model = {"family": family, "config_preset": config_preset, "path": str(shown)}
        if any((path / name).is_file() for name in MODEL_TOKENIZER_FILES):
            # The model's own tokenizer (tokenizer.json or tokenizer.model), special tokens
            # and chat template: its embedding rows are indexed by these ids.
            tokenizer = {"kind": "hf", "path": str(shown)}
    max_steps = req.get("max_steps")
    num_epochs = req.get("num_epochs")
    if max_steps is None and num_epochs is None:
        max_steps = DEFAULT_MAX_STEPS
    return {
        "spec_version": SPEC_VERSION,
        "run_id": str(run.id),
        "attempt": max(run.attempt, 1),
        "run_dir": ".",
        "algorithm": req.get("algorithm") or "sft",
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
            "max_seq_length": base_req.get("max_seq_length") or DEFAULTS["max_seq_length"],
            "seed": pick("seed"),
            "lora_rank": base_req.get("lora_rank"),
            "lora_alpha": base_req.get("lora_alpha"),
            "save_every_steps": pick("save_every_steps"),
            "keep_checkpoints": pick("keep_checkpoints"),
            "weight_decay": 0.0,
            "dtype": req.get("dtype") or "float32",
            "mesh": req.get("mesh"),
        },
        "evaluation": {
            "max_new_tokens": pick("eval_max_new_tokens"),
            "max_examples": pick("eval_max_examples"),
            "every_steps": req.get("eval_every_steps"),
            "at_checkpoints": bool(req.get("eval_at_checkpoints")),
            "subset_size": pick("eval_subset_size"),
        },
        **({"grpo": req["grpo"]} if req.get("grpo") else {}),
    }


def link_tree(src: Path, dst: Path) -> int:
    """Hard-link a file or a directory tree to dst (copy across filesystems)."""
    items = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
    for path in items:
        target = dst if path == src else dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except FileExistsError:
            continue
        except OSError:
            shutil.copy2(path, target)
    return len(items)


async def latest_checkpoint(
    session: AsyncSession, run_id: uuid.UUID
) -> tuple[models.RunArtifact | None, models.RunArtifact | None]:
    """The newest committed checkpoint row of a run and its tokenizer row (either may be None)."""
    rows = (
        (
            await session.execute(
                select(models.RunArtifact).where(models.RunArtifact.run_id == run_id)
            )
        )
        .scalars()
        .all()
    )
    steps = [
        (int(row.name.rsplit("/", 1)[1]), row)
        for row in rows
        if row.name.startswith(f"{artifacts.CHECKPOINTS_DIR}/")
        and row.name.rsplit("/", 1)[1].isdigit()
    ]
    checkpoint = max(steps, key=lambda item: item[0])[1] if steps else None
    tokenizer = next((row for row in rows if row.name == TOKENIZER_FILE), None)
    return checkpoint, tokenizer


async def hand_over_checkpoint(
    session: AsyncSession, run: models.Run, settings: Settings, attempt_dir: Path
) -> str | None:
    """Link the last committed checkpoint (this run's, else the retried run's) into the
    attempt directory; returns its artifact name, None when there is none."""
    sources = [run.id]
    if run.request.get("retry_of"):
        sources.append(uuid.UUID(str(run.request["retry_of"])))
    for source in sources:
        checkpoint, tokenizer = await latest_checkpoint(session, source)
        if checkpoint is None:
            continue
        source_dir = run_dir_of(settings, source)
        if not (source_dir / checkpoint.relpath).is_dir():
            continue  # pruned or deleted by hand: look further back
        link_tree(source_dir / checkpoint.relpath, attempt_dir / checkpoint.name)
        if tokenizer is not None and (source_dir / tokenizer.relpath).is_file():
            link_tree(source_dir / tokenizer.relpath, attempt_dir / TOKENIZER_FILE)
        return checkpoint.name
    return None


async def checkpoint_and_tokenizer_rows(
    session: AsyncSession, run_id: uuid.UUID, step: int
) -> dict[str, models.RunArtifact]:
    """The artifact rows of checkpoint `step` of a run and of its tokenizer files, by name."""
    names = [f"{artifacts.CHECKPOINTS_DIR}/{step}", *TOKENIZER_NAMES]
    rows = await session.scalars(
        select(models.RunArtifact).where(
            models.RunArtifact.run_id == run_id, models.RunArtifact.name.in_(names)
        )
    )
    return {row.name: row for row in rows.all()}


async def link_source_checkpoint(
    session: AsyncSession,
    source: models.Run,
    step: int,
    settings: Settings,
    attempt_dir: Path,
    *,
    checkpoint_dir: str = artifacts.CHECKPOINTS_DIR,
    tokenizer_path: str = TOKENIZER_FILE,
) -> bool:
    """Hard-link committed checkpoint `step` of another run (a job's or a run's starting
    point) to attempt_dir/checkpoint_dir/step and that run's tokenizer file to
    attempt_dir/tokenizer_path; returns whether a tokenizer file was linked. NotFound when
    the checkpoint is gone, or the tokenizer of a preset-model run (trained by that run:
    without it the embedding rows mean nothing)."""
    name = f"{artifacts.CHECKPOINTS_DIR}/{step}"
    by_name = await checkpoint_and_tokenizer_rows(session, source.id, step)
    source_dir = run_dir_of(settings, source.id)
    checkpoint = by_name.get(name)
    if checkpoint is None or not (source_dir / checkpoint.relpath).is_dir():
        raise errors.NotFound(f"checkpoint {step} of run {source.id} is gone")
    link_tree(source_dir / checkpoint.relpath, attempt_dir / checkpoint_dir / str(step))
    for tokenizer_name in TOKENIZER_NAMES:
        row = by_name.get(tokenizer_name)
        if row is not None and (source_dir / row.relpath).is_file():
            link_tree(source_dir / row.relpath, attempt_dir / tokenizer_path)
            return True
    if source.model_id in PRESET_MODELS:
        raise errors.NotFound(f"the tokenizer of run {source.id} is gone")
    return False


async def init_source_of(session: AsyncSession, run: models.Run) -> models.Run | None:
    """The run `run` started from (request.init_from), None when it started from none."""
    init = (run.request or {}).get("init_from")
    if not init:
        return None
    source = await session.get(models.Run, uuid.UUID(str(init["run_id"])))
    if source is None:
        raise errors.NotFound(
            f"run {init['run_id']}, which run {run.id} started from, no longer exists"
        )
    return source


async def model_run_of(session: AsyncSession, run: models.Run) -> models.Run:
    """The run whose request names the model of `run`: itself, or the end of its init_from
    chain (a run started from a checkpoint keeps that run's model, tokenizer and LoRA)."""
    current = run
    for _ in range(MAX_INIT_CHAIN):
        source = await init_source_of(session, current)
        if source is None:
            return current
        current = source
    raise errors.ValidationFailed(f"run {run.id}: init_from chain longer than {MAX_INIT_CHAIN}")


async def source_spec(
    session: AsyncSession, source: models.Run, settings: Settings
) -> dict[str, Any]:
    """The spec of a run whose checkpoint a job restores (an evaluation, an export)."""
    return build_spec(source, settings, await model_run_of(session, source))


async def hand_over_init(
    session: AsyncSession,
    run: models.Run,
    settings: Settings,
    attempt_dir: Path,
    spec: dict[str, Any],
) -> None:
    """Link the checkpoint a run starts from (init_from, resolved to a step and pinned when
    it was submitted) and its tokenizer under init/, and name them in the spec."""
    source = await init_source_of(session, run)
    assert source is not None
    step = run.request["init_from"].get("checkpoint", "latest")
    if not isinstance(step, int):  # a request not resolved at submit (a sweep trial's)
        step = await run_checkpoints.resolve_step(session, source, str(step), "start from")
    linked = await link_source_checkpoint(
        session,
        source,
        step,
        settings,
        attempt_dir,
        checkpoint_dir=INIT_CHECKPOINTS_DIR,
        tokenizer_path=INIT_TOKENIZER_FILE,
    )
    if linked:
        spec["tokenizer"] = {"kind": "file", "path": INIT_TOKENIZER_FILE}
    spec["init"] = {
        "checkpoint_dir": INIT_CHECKPOINTS_DIR,
        "step": step,
        "source_run_id": str(source.id),
    }


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
    """Write the attempt directory of `run` (claimed, so run.fence is this attempt's);
    returns the path of its spec.json."""
    attempt_dir = attempt_dir_of(settings, run.id, run.fence)
    (attempt_dir / "logs").mkdir(parents=True, exist_ok=True)
    await hand_over_checkpoint(session, run, settings, attempt_dir)
    spec = build_spec(run, settings, await model_run_of(session, run))
    if run.request.get("init_from"):
        await hand_over_init(session, run, settings, attempt_dir, spec)
    await export_split(session, run.dataset_key, "train", attempt_dir / TRAIN_PATH)
    await export_split(session, run.dataset_key, "holdout", attempt_dir / HOLDOUT_PATH)
    spec_path = attempt_dir / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return spec_path
