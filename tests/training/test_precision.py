"""precision.py in process: the float32 master copy keeps updates that bfloat16 parameters
alone would round away, and our float32 loss is Tunix's default loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tunix_rt.training import precision, presets
from tunix_rt.training.spec import parse_spec

pytestmark = [pytest.mark.training]


def test_the_master_copy_accumulates_updates_below_bfloat16_resolution() -> None:
    import jax.numpy as jnp
    import optax

    params = {"w": jnp.ones(4, jnp.bfloat16)}
    grads = {"w": jnp.ones(4, jnp.bfloat16)}
    sgd = optax.sgd(1e-4)  # 1 - 1e-4 is 1.0 in bfloat16 (its spacing near 1 is 2**-7)
    plain, plain_state = dict(params), sgd.init(params)
    master_tx = precision.float32_master(optax.sgd(1e-4))
    mastered, master_state = dict(params), master_tx.init(params)
    for _ in range(100):
        updates, plain_state = sgd.update(grads, plain_state, plain)
        plain = optax.apply_updates(plain, updates)
        updates, master_state = master_tx.update(grads, master_state, mastered)
        mastered = optax.apply_updates(mastered, updates)
    assert np.all(np.asarray(plain["w"], np.float32) == 1.0)  # every update rounded away
    assert master_state.master["w"].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(master_state.master["w"]), 0.99, atol=1e-5)
    assert mastered["w"].dtype == jnp.bfloat16
    expected = np.asarray(jnp.asarray(master_state.master["w"]).astype(jnp.bfloat16))
    assert np.array_equal(np.asarray(mastered["w"]), expected)  # the master, rounded


def test_float32_loss_is_tunix_default_loss_in_float32(tmp_path: Path) -> None:
    import jax.numpy as jnp
    from tunix.sft import peft_trainer, utils

    spec = parse_spec({"run_dir": str(tmp_path), "hyperparameters": {"seed": 1}})
    model = presets.build_model(spec, vocab_size=320, context_length=32).model
    rng = np.random.default_rng(0)
    tokens = jnp.asarray(rng.integers(4, 320, size=(2, 16)), jnp.int32)
    mask = jnp.asarray(np.arange(16)[None, :] >= np.array([[5], [9]]))
    padding = tokens != 0
    inputs = {
        "input_tokens": tokens,
        "input_mask": mask,
        "positions": utils.build_positions_from_mask(padding),
        "attention_mask": utils.make_causal_attn_mask(padding),
    }
    ours = float(precision.float32_loss_fn(model, **inputs))
    theirs = float(peft_trainer._default_loss_fn(model, **inputs))
    assert np.isfinite(ours) and abs(ours - theirs) <= 1e-5 * max(1.0, abs(theirs))
