"""hyperparameters.dtype on pretrained checkpoints: the transformers-made tiny fixtures load as
bfloat16 parameters (a bfloat16 file holds exactly the file's values; a float32 file, qwen3_untied,
its values rounded to bfloat16), and the bfloat16 forward pass stays close to transformers'
float32 logits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.training.test_hf_parity import FAMILY_OF, FIXTURES, forward, reference
from tunix_rt.training import precision, presets
from tunix_rt.training.spec import parse_spec

pytestmark = [pytest.mark.training]

# Max |bf16 logits - transformers' float32 logits| as a fraction of the logit range.
BF16_RELATIVE_TOLERANCE = 0.03  # 0.6 % to 1.4 % measured


def build(name: str, run_dir: Path, dtype: str) -> presets.BuiltModel:
    spec = parse_spec(
        {
            "run_dir": str(run_dir),
            "model": {"family": FAMILY_OF[name], "path": str(FIXTURES / name)},
            "hyperparameters": {"dtype": dtype},
        }
    )
    return presets.build_model(spec, vocab_size=0, context_length=64)


def params_of(model: Any) -> dict[str, np.ndarray]:
    import jax
    from flax import nnx

    flat = jax.tree_util.tree_flatten_with_path(nnx.state(model, nnx.Param))[0]
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in flat}


@pytest.mark.parametrize("name", ["gemma3", "llama3", "qwen3_untied"])
def test_bfloat16_checkpoint_loads_as_bfloat16_and_computes_close_to_float32(
    name: str, tmp_path: Path
) -> None:
    half = build(name, tmp_path, "bfloat16")
    assert precision.param_dtypes(half.model) == {"bfloat16"}
    full = build(name, tmp_path, "float32")
    assert precision.param_dtypes(full.model) == {"float32"}
    full_params, half_params = params_of(full.model), params_of(half.model)
    assert full_params.keys() == half_params.keys()
    for key, value in full_params.items():  # float32 holds a bfloat16 file's values exactly
        assert np.array_equal(half_params[key], value.astype(half_params[key].dtype)), key
    ids, expected = reference(name)
    ours = forward(half.model, ids)
    diff = float(np.max(np.abs(ours - expected)))
    print(
        f"{name}: bfloat16 max |logits - transformers f32| = {diff:.3f} of {np.ptp(expected):.1f}"
    )
    assert np.isfinite(ours).all()
    assert diff <= BF16_RELATIVE_TOLERANCE * float(np.ptp(expected))
