"""Task "export": a committed checkpoint of a run as a Hugging Face directory.

`hf`: the model (LoRA merged into the base) as float32 safetensors with transformers'
tensor names (sharded past export.max_shard_bytes, with model.safetensors.index.json),
config.json (the base model's, or a gemma3_text one written for a from-scratch preset) and
the tokenizer files (the model directory's own: tokenizer.json / tokenizer.model,
tokenizer_config.json with its chat template, ...; a preset run's trained tokenizer.model).
`peft` (LoRA runs): adapter_model.safetensors + adapter_config.json with PEFT's module names.

The model is built and restored exactly as an evaluation job does (training/eval_job.py).
Output goes to run_dir/export/<format>.partial and is renamed to run_dir/export/<format>
when complete, so the directory the worker registers is never half written.

Run by the training child: `python -m tunix_rt.training SPEC.json` with task "export" (the
worker's one command; the exit codes are the child's).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tunix_rt.hf import config as hf_config
from tunix_rt.training import environment, hf_export
from tunix_rt.training import spec as spec_lib
from tunix_rt.training.events import EventChannel
from tunix_rt.training.hf_export import ExportError

EXPORT_DIR = "export"
RUN_TOKENIZER_FILE = "tokenizer.model"
# What a Hugging Face checkpoint directory holds besides weights and config.json.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "generation_config.json",
)
# A preset run's tokenizer (runs/materialize: SentencePiece trained with these ids) and its
# turn format (training/data.py), as tokenizer_config.json gives them to transformers.
PRESET_SPECIALS = {
    "pad_token": "<pad>",
    "eos_token": "</s>",
    "bos_token": "<s>",
    "unk_token": "<unk>",
}
PRESET_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>"
    "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ message['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def output_dir(spec: spec_lib.Spec) -> Path:
    assert spec.export is not None
    return spec.root / EXPORT_DIR / spec.export.format


def _preset_vocab(spec: spec_lib.Spec) -> tuple[int, dict[str, int]]:
    """(pieces, special ids) of a preset run's trained SentencePiece tokenizer."""
    import sentencepiece as spm

    path = spec.root / RUN_TOKENIZER_FILE
    if not path.is_file():
        raise ExportError(f"the run's {RUN_TOKENIZER_FILE} is not in {spec.root}")
    processor = spm.SentencePieceProcessor(model_file=str(path))
    ids = {"bos": processor.bos_id(), "eos": processor.eos_id(), "pad": processor.pad_id()}
    return int(processor.GetPieceSize()), {k: max(int(v), 0) for k, v in ids.items()}


def _architecture(
    spec: spec_lib.Spec, model_config: Any, preset_ids: dict[str, int]
) -> tuple[hf_config.Architecture, dict[str, Any]]:
    """The exported model's Architecture and config.json."""
    path = getattr(spec.model, "path", None)
    if path is None:
        config = hf_export.gemma3_preset_config(
            model_config, preset_ids["bos"], preset_ids["eos"], preset_ids["pad"]
        )
    else:
        directory = Path(path)
        if not hf_config.has_config(directory):
            raise ExportError(
                f"model.path {directory} has no config.json: only checkpoints with one "
                "(or presets) can be exported"
            )
        config = hf_config.read_config(directory)
        config.update(dtype="float32", torch_dtype="float32")
    return hf_config.architecture_of(config), config


def _tokenizer_sources(spec: spec_lib.Spec) -> list[Path]:
    path = getattr(spec.model, "path", None)
    if path is not None:
        own = [Path(path) / name for name in TOKENIZER_FILES if (Path(path) / name).is_file()]
        if any(p.name in ("tokenizer.json", "tokenizer.model") for p in own):
            return own
    kept = spec.root / RUN_TOKENIZER_FILE
    return [kept] if kept.is_file() else []


def _preset_tokenizer_config(directory: Path) -> None:
    config = {
        **PRESET_SPECIALS,
        "add_bos_token": True,
        "add_eos_token": False,
        "chat_template": PRESET_CHAT_TEMPLATE,
        "model_max_length": 1_000_000,
    }
    (directory / "tokenizer_config.json").write_text(
        json.dumps(config, indent=2) + "\n", encoding="utf-8"
    )


def write_export(
    spec: spec_lib.Spec, built: Any, target: Path, preset_ids: dict[str, int]
) -> dict[str, Any]:
    """Write the export of the restored model `built` into target; returns a summary."""
    assert spec.export is not None
    model_config = built.model.config
    arch, config = _architecture(spec, model_config, preset_ids)
    weights = hf_export.read_weights(built.model)
    hp = spec.hyperparameters
    target.mkdir(parents=True)
    if spec.export.format == "peft":
        if hp.lora_rank is None or not weights.lora:
            raise ExportError("format peft needs a LoRA run (hyperparameters.lora_rank)")
        tensors, targets = hf_export.peft_tensors(arch, model_config, weights)
        hf_export.write_safetensors_file(target / hf_export.ADAPTER_FILE, tensors)
        adapter = hf_export.adapter_config(
            hp.lora_rank, spec.lora_alpha, targets, getattr(spec.model, "path", None)
        )
        (target / hf_export.ADAPTER_CONFIG_FILE).write_text(
            json.dumps(adapter, indent=2) + "\n", encoding="utf-8"
        )
        files = [hf_export.ADAPTER_FILE]
    else:
        scale = spec.lora_alpha / hp.lora_rank if hp.lora_rank else 1.0
        tensors = hf_export.to_hf_tensors(
            arch, model_config, hf_export.merged_params(weights, scale)
        )
        files = hf_export.write_model(target, tensors, spec.export.max_shard_bytes)
        (target / hf_config.CONFIG_FILE).write_text(
            json.dumps(config, indent=2) + "\n", encoding="utf-8"
        )
    copied = hf_export.copy_files(_tokenizer_sources(spec), target)
    if getattr(spec.model, "path", None) is None:
        _preset_tokenizer_config(target)
        copied.append("tokenizer_config.json")
    return {
        "format": spec.export.format,
        "step": spec.export.checkpoint_step,
        "family": arch.family,
        "tensors": len(tensors),
        "bytes": hf_export.tensor_bytes(tensors),
        "weight_files": files,
        "tokenizer_files": sorted(set(copied)),
    }


def run_export(spec: spec_lib.Spec, events: EventChannel) -> dict[str, Any]:
    environment.require_stack()
    from tunix_rt.training import eval_job, presets, sft

    assert spec.export is not None
    if spec.export.format == "peft" and spec.hyperparameters.lora_rank is None:
        raise ExportError("format peft needs a LoRA run (hyperparameters.lora_rank)")
    step = spec.export.checkpoint_step
    sft.configure_jax_for(spec)
    events.phase("load")
    vocab, preset_ids = 0, dict[str, int]()
    if getattr(spec.model, "path", None) is None:
        vocab, preset_ids = _preset_vocab(spec)
    built = presets.build_model(spec, vocab, spec.hyperparameters.max_seq_length)
    eval_job.restore_checkpoint(spec, built, step)
    events.phase("export")
    target = output_dir(spec)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    summary = write_export(spec, built, partial, preset_ids)
    shutil.rmtree(target, ignore_errors=True)
    partial.replace(target)
    print(
        f"exported checkpoint {step} as {spec.export.format}: {summary['tensors']} tensors, "
        f"{summary['bytes']:,} bytes in {', '.join(summary['weight_files'])}",
        flush=True,
    )
    events.phase("done")
    return summary
