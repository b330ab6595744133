"""Our loader against transformers: tiny checkpoints that transformers wrote, with the float32
logits it computed (tests/fixtures/hf, made by scripts/make_hf_fixtures.py).

The model is built the way the trainer builds it (presets.build_model on a spec whose model is
{family, path}), then run on the reference token ids with a causal mask.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tunix_rt.hf import config as hf_config
from tunix_rt.training import presets
from tunix_rt.training.spec import parse_spec

pytestmark = [pytest.mark.training]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hf"
FAMILY_OF = {
    "gemma3": "gemma3",
    "qwen2": "qwen2",
    "qwen3_tied": "qwen3",
    "qwen3_untied": "qwen3",
    "llama3": "llama3",
}
MAX_ABS_DIFF = 1e-4


def build(name: str, run_dir: Path, directory: Path | None = None) -> presets.BuiltModel:
    spec = parse_spec(
        {
            "run_dir": str(run_dir),
            "model": {"family": FAMILY_OF[name], "path": str(directory or FIXTURES / name)},
        }
    )
    return presets.build_model(spec, vocab_size=0, context_length=64)


def forward(model: Any, ids: np.ndarray) -> np.ndarray:
    import jax.numpy as jnp
    from flax import nnx

    batch, length = ids.shape
    positions = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (batch, length))
    causal = jnp.broadcast_to(
        jnp.tril(jnp.ones((length, length), dtype=jnp.bool_)), (batch, length, length)
    )

    @nnx.jit
    def run(model: Any, tokens: Any) -> Any:  # one compiled program: faster than op by op
        return model(tokens, positions, None, causal)[0]

    return np.asarray(run(model, jnp.asarray(ids, dtype=jnp.int32)), dtype=np.float32)


def reference(name: str) -> tuple[np.ndarray, np.ndarray]:
    data = json.loads((FIXTURES / name / "reference.json").read_text(encoding="utf-8"))
    ids = np.asarray(data["logits_input_ids"], dtype=np.int32)
    return ids, np.load(FIXTURES / name / "reference_logits.npy")


@pytest.mark.parametrize("name", sorted(FAMILY_OF))
def test_logits_match_transformers(name: str, tmp_path: Path) -> None:
    built = build(name, tmp_path)
    ids, expected = reference(name)
    ours = forward(built.model, ids)
    assert ours.shape == expected.shape
    diff = float(np.max(np.abs(ours - expected)))
    print(f"{name}: max |logits - transformers| = {diff:.2e} (logit range {np.ptp(expected):.1f})")
    assert diff <= MAX_ABS_DIFF, f"{name}: max abs diff {diff:.3g} > {MAX_ABS_DIFF}"


def test_untied_checkpoint_loads_its_own_lm_head(tmp_path: Path) -> None:
    from flax import nnx

    built = build("qwen3_untied", tmp_path)
    state = nnx.state(built.model, nnx.Param).to_pure_dict()
    head = np.asarray(state["lm_head"]["w"])
    embedding = np.asarray(state["embedder"]["input_embedding"])
    assert head.shape == embedding.T.shape
    assert not np.allclose(head, embedding.T)


def test_llama3_rope_workaround_is_what_makes_parity(tmp_path: Path) -> None:
    """Tunix's own Llama3 (theta 1e6, no llama3 scaling) is far from transformers."""
    import jax.numpy as jnp
    from tunix.models.llama3 import params

    from tunix_rt.training import hf_model

    arch = hf_config.inspect_checkpoint(FIXTURES / "llama3").arch
    assert hf_model.needs_rope_fix(arch)
    plain = hf_model.tunix_config(
        hf_config.Architecture(**{**arch.__dict__, "rope_theta": 1e6, "llama3_rope_scaling": None}),
        jnp.float32,
    )
    model = params.create_model_from_safe_tensors(
        str(FIXTURES / "llama3"), plain, None, jnp.float32
    )
    ids, expected = reference("llama3")
    assert float(np.max(np.abs(forward(model, ids) - expected))) > 100 * MAX_ABS_DIFF


def test_llama3_decoding_with_the_kv_cache_gives_the_same_logits(tmp_path: Path) -> None:
    """The sampler's path through the RoPE workaround: a prompt into the KV cache, then one
    token at a time."""
    import jax.numpy as jnp
    from tunix.generate.sampler import _init_cache

    name = "llama3"
    built = build(name, tmp_path)
    ids, expected = reference(name)
    batch, length = ids.shape
    prefill = length // 2
    cache = _init_cache(
        built.layout.num_layers,
        length,
        batch,
        built.layout.num_kv_heads,
        built.layout.head_dim,
        jnp.float32,
    )
    slots = jnp.arange(length)
    outputs = []
    start = 0
    for stop in [prefill, *range(prefill + 1, length + 1)]:
        positions = jnp.broadcast_to(
            jnp.arange(start, stop, dtype=jnp.int32), (batch, stop - start)
        )
        mask = slots[jnp.newaxis, jnp.newaxis, :] <= positions[..., jnp.newaxis]
        logits, cache = built.model(jnp.asarray(ids[:, start:stop]), positions, cache, mask)
        outputs.append(np.asarray(logits))
        start = stop
    diff = float(np.max(np.abs(np.concatenate(outputs, axis=1) - expected)))
    assert diff <= MAX_ABS_DIFF, f"{name} with cache: max abs diff {diff:.3g}"


def test_rope_inverse_frequencies_follow_llama3_scaling() -> None:
    from tunix_rt.training import hf_model

    scaling = hf_config.Llama3RopeScaling(8.0, 1.0, 4.0, 8192)
    plain = np.asarray(hf_model.rope_inverse_frequencies(128, 500_000.0, None))
    scaled = np.asarray(hf_model.rope_inverse_frequencies(128, 500_000.0, scaling))
    wavelen = 2 * np.pi / plain
    assert np.allclose(scaled[wavelen < 8192 / 4], plain[wavelen < 8192 / 4])  # high: kept
    assert np.allclose(scaled[wavelen > 8192], plain[wavelen > 8192] / 8)  # low: / factor
    medium = (wavelen >= 8192 / 4) & (wavelen <= 8192)
    assert medium.any()
    assert np.all(scaled[medium] < plain[medium])
    assert np.all(scaled[medium] > plain[medium] / 8)


def copy_fixture(name: str, target: Path) -> Path:
    shutil.copytree(FIXTURES / name, target)
    return target


def rewrite_header(path: Path, edit: Any) -> None:
    """Rewrites a safetensors file's JSON header (data untouched)."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    edit(header)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + raw[8 + length :])


def test_config_that_disagrees_with_the_weights_names_the_tensor_and_both_shapes(
    tmp_path: Path,
) -> None:
    directory = copy_fixture("qwen3_tied", tmp_path / "ckpt")
    config = json.loads((directory / "config.json").read_text())
    config["intermediate_size"] = 96
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(presets.ModelError) as caught:
        build("qwen3_tied", tmp_path / "run", directory)
    message = str(caught.value)
    assert "model.layers.0.mlp.gate_proj.weight" in message
    assert "[128, 64]" in message and "[96, 64]" in message


def test_untied_config_on_tied_weights_is_refused_not_silently_random(tmp_path: Path) -> None:
    directory = copy_fixture("qwen3_tied", tmp_path / "ckpt")
    config = json.loads((directory / "config.json").read_text())
    config["tie_word_embeddings"] = False
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(presets.ModelError, match=r"lm_head\.weight is missing"):
        build("qwen3_tied", tmp_path / "run", directory)


def test_tied_config_on_untied_weights_is_refused_not_silently_dropped(tmp_path: Path) -> None:
    directory = copy_fixture("qwen3_untied", tmp_path / "ckpt")
    config = json.loads((directory / "config.json").read_text())
    config["tie_word_embeddings"] = True
    (directory / "config.json").write_text(json.dumps(config))
    checkpoint_tensors = hf_config.read_tensors(directory)
    arch = hf_config.architecture_of(config)
    # A tied model may carry lm_head.weight (transformers ignores it too): allowed, but the
    # dropped head is visible in the expected tensors.
    assert "lm_head.weight" not in hf_config.expected_tensors(arch)
    assert "lm_head.weight" in checkpoint_tensors


def test_mixed_dtypes_in_one_file_are_refused(tmp_path: Path) -> None:
    directory = copy_fixture("qwen2", tmp_path / "ckpt")

    def relabel(header: dict[str, Any]) -> None:
        name = "model.norm.weight"
        start, end = header[name]["data_offsets"]
        header[name] = {
            "dtype": "F16",
            "shape": header[name]["shape"],
            "data_offsets": [start, end],
        }

    rewrite_header(directory / "model.safetensors", relabel)
    with pytest.raises(hf_config.CheckpointError, match="mixes dtypes"):
        hf_config.inspect_checkpoint(directory)


def test_unsupported_family_and_rope_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(hf_config.CheckpointError, match="model_type 'mistral'"):
        hf_config.architecture_of({"model_type": "mistral"})
    config = json.loads((FIXTURES / "llama3" / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0}
    with pytest.raises(hf_config.CheckpointError, match="'yarn' is not supported"):
        hf_config.architecture_of(config)
    legacy = {k: v for k, v in config.items() if k != "rope_parameters"}
    legacy["rope_theta"] = 500000.0
    legacy["rope_scaling"] = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
    }
    assert (
        hf_config.architecture_of(legacy) == hf_config.inspect_checkpoint(FIXTURES / "llama3").arch
    )
