"""Export round trips with real Tunix on CPU: a tiny LoRA run on a transformers-made Qwen3
checkpoint and a from-scratch preset run are trained by the child, exported by the child
(task export), and the exported directory, read back by our Hugging Face loader
(hf_config + hf_model: config.json + safetensors), gives the logits of the trained model
restored from its checkpoint. PEFT adapters added to the base give the merged weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.training.conftest import run_child
from tests.training.datasets import write_dataset, write_spec
from tunix_rt.hf import config as hf_config

pytestmark = [pytest.mark.slow, pytest.mark.training]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hf"
QUICK = {"max_steps": 3, "batch_size": 4, "save_every_steps": 3, "learning_rate": 3e-2}
TOKENS = [[2, 5, 9, 33, 100, 7, 8, 1, 40, 41]]


def export_spec(run_dir: Path, export: dict[str, Any]) -> Path:
    spec = json.loads((run_dir / "spec.json").read_text())
    spec.update(task="export", export=export)
    path = run_dir / "export_spec.json"
    path.write_text(json.dumps(spec))
    return path


def logits(model: Any) -> np.ndarray:
    import jax.numpy as jnp

    tokens = jnp.asarray(TOKENS)
    length = tokens.shape[1]
    positions = jnp.arange(length)[None]
    mask = jnp.tril(jnp.ones((1, length, length), dtype=bool))
    out = model(tokens, positions, None, mask)
    return np.asarray(out[0], dtype=np.float32)


def restored_logits(spec_path: Path, step: int, vocab: int) -> np.ndarray:
    from tunix_rt.training import eval_job, presets
    from tunix_rt.training import spec as spec_lib

    spec = spec_lib.load_spec(spec_path)
    built = presets.build_model(spec, vocab, spec.hyperparameters.max_seq_length)
    eval_job.restore_checkpoint(spec, built, step)
    return logits(built.model)


def exported_logits(directory: Path) -> np.ndarray:
    import jax.numpy as jnp

    from tunix_rt.training import hf_model

    return logits(hf_model.load_checkpoint(directory, jnp.float32))


def test_lora_run_exports_merged_weights_and_peft_adapters(
    tmp_path: Path, jax_cache_dir: str
) -> None:
    run_dir = tmp_path / "run"
    write_dataset(run_dir, "high_card_duel", train_count=16, holdout_count=2, seed=5)
    spec = write_spec(
        run_dir,
        model={"family": "qwen3", "path": str(FIXTURES / "qwen3_untied")},
        tokenizer={"kind": "hf", "path": str(FIXTURES / "qwen3_untied")},
        hyperparameters={**QUICK, "lora_rank": 4, "lora_alpha": 8.0},
        evaluation={"max_examples": 0, "max_new_tokens": 4},
        jax_cache_dir=jax_cache_dir,
    )
    trained = run_child(spec, timeout_s=300)
    assert trained.returncode == 0, trained.stderr[-3000:]
    result = run_child(
        export_spec(run_dir, {"format": "hf", "checkpoint_step": 3, "max_shard_bytes": 200_000})
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = run_dir / "export" / "hf"
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1  # sharded past max_shard_bytes
    assert (out / "tokenizer.json").is_file() and (out / "config.json").is_file()
    hf_config.inspect_checkpoint(out)  # every tensor, with the shape config.json implies
    expected = restored_logits(spec, 3, 400)
    got = exported_logits(out)
    # Merged weights: W + A.B*s instead of x.W + (x.A).B*s, float32 rounding only.
    assert np.abs(got - expected).max() <= 1e-4, np.abs(got - expected).max()
    base = exported_logits(FIXTURES / "qwen3_untied")
    assert np.abs(base - expected).max() > 1e-3  # training moved the model

    result = run_child(export_spec(run_dir, {"format": "peft", "checkpoint_step": 3}))
    assert result.returncode == 0, result.stderr[-3000:]
    peft = run_dir / "export" / "peft"
    config = json.loads((peft / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["lora_alpha"] == 8.0 and config["peft_type"] == "LORA"
    assert set(config["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    adapters = safetensors_arrays(peft / "adapter_model.safetensors")
    merged = safetensors_arrays_dir(out)
    base_tensors = safetensors_arrays_dir(FIXTURES / "qwen3_untied")
    name = "model.layers.1.self_attn.q_proj"
    a = adapters[f"base_model.model.{name}.lora_A.weight"]
    b = adapters[f"base_model.model.{name}.lora_B.weight"]
    assert a.shape == (4, 64) and b.shape == (64, 4)
    for module in ("model.layers.1.self_attn.q_proj", "model.layers.2.mlp.down_proj"):
        a = adapters[f"base_model.model.{module}.lora_A.weight"]
        b = adapters[f"base_model.model.{module}.lora_B.weight"]
        rebuilt = base_tensors[f"{module}.weight"] + (b @ a) * (8.0 / 4)
        assert np.abs(rebuilt - merged[f"{module}.weight"]).max() <= 1e-6


def test_preset_run_exports_a_gemma3_checkpoint(tmp_path: Path, jax_cache_dir: str) -> None:
    run_dir = tmp_path / "run"
    write_dataset(run_dir, "high_card_duel", train_count=16, holdout_count=2, seed=5)
    spec = write_spec(
        run_dir,
        model={"preset": "tiny"},
        tokenizer={"kind": "sentencepiece_train", "vocab_size": 400},
        hyperparameters=QUICK,
        evaluation={"max_examples": 0, "max_new_tokens": 4},
        jax_cache_dir=jax_cache_dir,
    )
    trained = run_child(spec, timeout_s=300)
    assert trained.returncode == 0, trained.stderr[-3000:]
    refused = run_child(export_spec(run_dir, {"format": "peft", "checkpoint_step": 3}))
    assert refused.returncode == 2 and "needs a LoRA run" in refused.stderr
    result = run_child(export_spec(run_dir, {"format": "hf", "checkpoint_step": 3}))
    assert result.returncode == 0, result.stderr[-3000:]
    out = run_dir / "export" / "hf"
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "gemma3_text" and config["vocab_size"] == 400
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.model").is_file()
    assert "chat_template" in json.loads((out / "tokenizer_config.json").read_text())
    expected = restored_logits(spec, 3, 400)
    np.testing.assert_array_equal(exported_logits(out), expected)


def safetensors_arrays(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return dict(load_file(str(path)))


def safetensors_arrays_dir(directory: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for path in sorted(directory.glob("*.safetensors")):
        arrays.update(safetensors_arrays(path))
    return arrays
