"""A Tunix model built from a Hugging Face checkpoint's config.json, any size.

`tunix_config` maps an `hf_config.Architecture` onto the family's Tunix ModelConfig;
`load_checkpoint` checks the safetensors headers against it and loads the weights through
the family's Tunix safetensors loader.

RoPE workaround (Tunix 0.1.7): the Llama3 and Qwen3 attention blocks call
`apply_rope(x, positions, head_dim=...)` without the config's rope_theta, so RoPE always
uses theta 1e6 (Llama 3 needs 5e5), and there is no `llama3` rope scaling. For those two
families, when the checkpoint's RoPE differs from that default, the model is built with
an attention subclass whose `block` makes its inverse frequencies the active ones for the
duration of the call, and the family module's `apply_rope` (replaced once, by
`_install_rope_dispatch`) uses them. Both happen while JAX traces the block, so the
frequencies become constants of the compiled program; any other caller of `apply_rope`
gets the original function.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import importlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tunix_rt.hf import config as hf_config
from tunix_rt.hf.config import Architecture

TUNIX_DEFAULT_ROPE_THETA = 1_000_000.0
# family -> (module with the model, module with create_model_from_safe_tensors)
MODULES = {
    "gemma3": ("tunix.models.gemma3.model", "tunix.models.gemma3.params_safetensors"),
    "qwen3": ("tunix.models.qwen3.model", "tunix.models.qwen3.params"),
    "qwen2": ("tunix.models.qwen2.model", "tunix.models.qwen2.params"),
    "llama3": ("tunix.models.llama3.model", "tunix.models.llama3.params"),
}
MODEL_CLASS = {"qwen3": "Qwen3", "llama3": "Llama3"}

_ACTIVE_INV_FREQ: contextvars.ContextVar[tuple[float, ...] | None] = contextvars.ContextVar(
    "tunix_rt_rope_inv_freq", default=None
)
_MODEL_CLASSES: dict[str, Any] = {}
_CONFIG_CLASSES: dict[type, Any] = {}


def rope_inverse_frequencies(
    head_dim: int, theta: float, scaling: hf_config.Llama3RopeScaling | None
) -> tuple[float, ...]:
    """transformers' default / `llama3` RoPE inverse frequencies (computed in float32 as
    transformers does)."""
    exponents = np.arange(0, head_dim, 2, dtype=np.int64).astype(np.float32) / np.float32(head_dim)
    inv_freq = (np.float32(1.0) / (np.float32(theta) ** exponents)).astype(np.float32)
    if scaling is not None:
        old = scaling.original_max_position_embeddings
        low_wavelen = old / scaling.low_freq_factor
        high_wavelen = old / scaling.high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        scaled = np.where(wavelen > low_wavelen, inv_freq / scaling.factor, inv_freq)
        smooth = (old / wavelen - scaling.low_freq_factor) / (
            scaling.high_freq_factor - scaling.low_freq_factor
        )
        smoothed = (1 - smooth) * scaled / scaling.factor + smooth * scaled
        medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
        inv_freq = np.where(medium, smoothed, scaled).astype(np.float32)
    return tuple(float(x) for x in inv_freq)


def needs_rope_fix(arch: Architecture) -> bool:
    return arch.family in MODEL_CLASS and (
        arch.rope_theta != TUNIX_DEFAULT_ROPE_THETA or arch.llama3_rope_scaling is not None
    )


@contextlib.contextmanager
def _active_inv_freq(inv_freq: tuple[float, ...]) -> Iterator[None]:
    token = _ACTIVE_INV_FREQ.set(inv_freq)
    try:
        yield
    finally:
        _ACTIVE_INV_FREQ.reset(token)


def _install_rope_dispatch(module: Any) -> None:
    if getattr(module.apply_rope, "_tunix_rt_dispatch", False):
        return
    original = module.apply_rope

    def apply_rope(inputs: Any, positions: Any, *args: Any, **kwargs: Any) -> Any:
        inv_freq = _ACTIVE_INV_FREQ.get()
        if inv_freq is None:
            return original(inputs, positions, *args, **kwargs)
        import jax.numpy as jnp

        freqs = jnp.asarray(inv_freq, dtype=jnp.float32)
        angles = positions[..., jnp.newaxis].astype(jnp.float32) * freqs[jnp.newaxis, jnp.newaxis]
        angles = angles[..., jnp.newaxis, :]
        sin, cos = jnp.sin(angles), jnp.cos(angles)
        first, second = jnp.split(inputs, 2, axis=-1)
        out = jnp.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)
        return out.astype(inputs.dtype)

    apply_rope._tunix_rt_dispatch = True  # type: ignore[attr-defined]
    module.apply_rope = apply_rope


def _model_class_with_rope(family: str) -> Any:
    """The family's model class whose attention uses config.rope_inv_freq."""
    if family in _MODEL_CLASSES:
        return _MODEL_CLASSES[family]
    module = importlib.import_module(MODULES[family][0])
    _install_rope_dispatch(module)

    class RopeAttention(module.Attention):  # type: ignore[misc, name-defined]
        def block(self, *args: Any, **kwargs: Any) -> Any:
            with _active_inv_freq(self.config.rope_inv_freq):
                return super().block(*args, **kwargs)

    base = getattr(module, MODEL_CLASS[family])

    class ModelWithRope(base):  # type: ignore[misc, valid-type]
        def __init__(self, config: Any, *, rngs: Any) -> None:
            super().__init__(config, rngs=rngs)
            for layer in self.layers:
                layer.attn = RopeAttention(config=config, rngs=rngs)

    RopeAttention.__name__ = RopeAttention.__qualname__ = f"{base.__name__}RopeAttention"
    ModelWithRope.__name__ = ModelWithRope.__qualname__ = f"{base.__name__}WithRope"
    _MODEL_CLASSES[family] = ModelWithRope
    return ModelWithRope


def _config_with_rope(config: Any, inv_freq: tuple[float, ...]) -> Any:
    """The family's frozen ModelConfig with one more (static, hashable) field."""
    base = type(config)
    cls = _CONFIG_CLASSES.get(base)
    if cls is None:
        # One class per base: configs compare equal (static graph data) only within a class.
        cls = _CONFIG_CLASSES[base] = dataclasses.make_dataclass(
            f"{base.__name__}WithRope",
            [("rope_inv_freq", tuple, dataclasses.field(default=()))],
            bases=(base,),
            frozen=True,
        )
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return cls(**values, rope_inv_freq=inv_freq)


def tunix_config(arch: Architecture, param_dtype: Any) -> Any:
    model_module = importlib.import_module(MODULES[arch.family][0])
    config_class = model_module.ModelConfig
    if arch.family == "gemma3":
        norm = model_module.QueryPreAttentionNormalisation
        if arch.query_pre_attn_scalar == arch.head_dim:
            query_norm = norm.BY_ONE_OVER_SQRT_HEAD_DIM
        elif arch.query_pre_attn_scalar == arch.embed_dim // arch.num_heads:
            query_norm = norm.BY_ONE_OVER_SQRT_EMBED_DIM_DIV_NUM_HEADS
        else:
            raise hf_config.CheckpointError(
                f"config.json query_pre_attn_scalar {arch.query_pre_attn_scalar} is neither "
                f"head_dim ({arch.head_dim}) nor hidden_size / num_attention_heads"
            )
        for name, value in (("rope_theta", arch.rope_theta), ("local", arch.local_rope_theta)):
            if value != int(value):
                raise hf_config.CheckpointError(f"gemma3 {name} {value} must be an integer")
        return config_class(
            num_layers=arch.num_layers,
            num_embed=arch.vocab_size,
            embed_dim=arch.embed_dim,
            hidden_dim=arch.hidden_dim,
            num_heads=arch.num_heads,
            head_dim=arch.head_dim,
            num_kv_heads=arch.num_kv_heads,
            sliding_window_size=arch.sliding_window,
            local_base_frequency=int(arch.local_rope_theta),
            global_base_frequency=int(arch.rope_theta),
            global_scale_factor=arch.global_scale_factor,
            query_pre_attn_norm=query_norm,
            param_dtype=param_dtype,
        )
    common = {
        "num_layers": arch.num_layers,
        "vocab_size": arch.vocab_size,
        "embed_dim": arch.embed_dim,
        "hidden_dim": arch.hidden_dim,
        "num_heads": arch.num_heads,
        "head_dim": arch.head_dim,
        "num_kv_heads": arch.num_kv_heads,
        "rope_theta": arch.rope_theta,
        "norm_eps": arch.norm_eps,
    }
    if arch.family == "llama3":
        config = config_class(**common, weight_tying=arch.tied_embeddings)
    else:
        config = config_class(
            **common,
            use_tied_embedding=arch.tied_embeddings,
            dtype=param_dtype,
            param_dtype=param_dtype,
        )
    if needs_rope_fix(arch):
        inv_freq = rope_inverse_frequencies(
            arch.head_dim, arch.rope_theta, arch.llama3_rope_scaling
        )
        config = _config_with_rope(config, inv_freq)
    return config


def load_checkpoint(directory: Path, dtype: Any) -> Any:
    """Checks config.json against the safetensors headers, then loads the weights."""
    checkpoint = hf_config.inspect_checkpoint(directory)
    arch = checkpoint.arch
    config = tunix_config(arch, dtype)
    params = importlib.import_module(MODULES[arch.family][1])
    if not needs_rope_fix(arch):
        return params.create_model_from_safe_tensors(str(directory), config, None, dtype)
    from tunix.models import safetensors_loader

    return safetensors_loader.load_and_create_model(
        file_dir=str(directory),
        model_class=_model_class_with_rope(arch.family),
        config=config,
        # The family's own name mapping (the loader's private table; pinned Tunix 0.1.7).
        key_mapping=params._get_key_and_transform_mapping,
        mesh=None,
        preprocess_fn=getattr(params, "_stack_experts", None),
        dtype=dtype,
    )
