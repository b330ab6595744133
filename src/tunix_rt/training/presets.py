"""Models: from-scratch presets of the Gemma3 family, or a local pretrained checkpoint.

A checkpoint directory with a config.json (Hugging Face layout) gets its architecture from
it, any size (hf/config.py, hf_model.py); without one, model.config_preset names a
Tunix config whose shapes must equal the checkpoint's.

Presets use `dummy_model_creator` (normal * 0.02 for every parameter): the families' own
constructors zero-initialise the MLP kernels, which then never receive gradient.
Nothing is downloaded: pretrained weights come from safetensors in a local directory.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunix_rt.hf import config as hf_config

if TYPE_CHECKING:
    from tunix_rt.training.spec import Spec

# name -> (layers, embed, hidden, heads, head_dim, kv_heads)
PRESETS: dict[str, tuple[int, int, int, int, int, int]] = {
    "tiny": (2, 128, 512, 4, 32, 1),  # ~0.5 M parameters at vocab 512
    "small": (6, 384, 1536, 6, 64, 2),  # ~13 M parameters at vocab 512
}
# family -> (module with ModelConfig, module with create_model_from_safe_tensors)
FAMILIES: dict[str, tuple[str, str]] = {
    "gemma3": ("tunix.models.gemma3.model", "tunix.models.gemma3.params_safetensors"),
    "qwen3": ("tunix.models.qwen3.model", "tunix.models.qwen3.params"),
    "qwen2": ("tunix.models.qwen2.model", "tunix.models.qwen2.params"),
    "llama3": ("tunix.models.llama3.model", "tunix.models.llama3.params"),
}
# Projection names across the families (gemma einsums, qwen/llama linear layers).
LORA_MODULE_PATH = (
    ".*q_einsum|.*kv_einsum|.*attn_vec_einsum|.*gate_proj|.*up_proj|.*down_proj"
    "|.*q_proj|.*k_proj|.*v_proj|.*o_proj"
)


class ModelError(ValueError):
    """The model cannot be built or loaded (bad preset name, missing weights...)."""


@dataclass(frozen=True)
class CacheLayout:
    num_layers: int
    num_kv_heads: int
    head_dim: int


@dataclass
class BuiltModel:
    model: Any
    layout: CacheLayout
    param_count: int
    lora: bool


def preset_config(name: str, vocab_size: int, context_length: int, param_dtype: Any = None) -> Any:
    import jax.numpy as jnp
    from tunix.models.gemma3 import model as gemma3

    layers, embed, hidden, heads, head_dim, kv_heads = PRESETS[name]
    return gemma3.ModelConfig(
        num_layers=layers,
        num_embed=vocab_size,
        embed_dim=embed,
        hidden_dim=hidden,
        num_heads=heads,
        head_dim=head_dim,
        num_kv_heads=kv_heads,
        # Never below the longest sequence, or attention silently loses the prompt.
        sliding_window_size=max(1024, context_length),
        param_dtype=jnp.float32 if param_dtype is None else param_dtype,
    )


def count_params(model_or_abstract: Any) -> int:
    import jax
    from flax import nnx

    state = nnx.state(model_or_abstract, nnx.Param)
    return int(sum(leaf.size for leaf in jax.tree.leaves(state)))


def estimate_preset_params(name: str, vocab_size: int) -> int:
    """Parameter count without allocating weights (abstract shapes only)."""
    from flax import nnx
    from tunix.models.gemma3 import model as gemma3

    config = preset_config(name, vocab_size, 1024)
    abstract = nnx.eval_shape(lambda: gemma3.Gemma3(config, rngs=nnx.Rngs(params=0)))
    return count_params(abstract)


def _pretrained_config(family: str, config_preset: str) -> tuple[Any, Any]:
    model_module, params_module = FAMILIES[family]
    config_class = importlib.import_module(model_module).ModelConfig
    factory = getattr(config_class, config_preset, None)
    if factory is None or config_preset.startswith("_"):
        names = sorted(
            n for n in vars(config_class) if n.startswith(family[:4]) and not n.startswith("_")
        )
        raise ModelError(
            f"model.config_preset {config_preset!r} is not a {family} preset; try one of {names}"
        )
    return factory(), importlib.import_module(params_module)


def check_hf_checkpoint(directory: Path, family: str) -> hf_config.Checkpoint:
    """config.json against the safetensors headers (no weight read); ModelError if unusable."""
    try:
        checkpoint = hf_config.inspect_checkpoint(directory)
    except hf_config.CheckpointError as exc:
        raise ModelError(f"model.path {directory}: {exc}") from exc
    if checkpoint.arch.family != family:
        raise ModelError(
            f"model.family is {family} but {directory}/config.json describes a "
            f"{checkpoint.arch.family} model"
        )
    return checkpoint


def load_hf_checkpoint(directory: Path, family: str, dtype: Any) -> Any:
    """The model of a Hugging Face checkpoint directory, architecture from its config.json."""
    from tunix_rt.training import hf_model

    check_hf_checkpoint(directory, family)
    try:
        return hf_model.load_checkpoint(directory, dtype)
    except hf_config.CheckpointError as exc:
        raise ModelError(f"model.path {directory}: {exc}") from exc


def build_model(spec: Spec, vocab_size: int, context_length: int) -> BuiltModel:
    """The model in the spec's dtype (hyperparameters.dtype), on one device."""
    import jax.numpy as jnp

    from tunix_rt.training import precision

    dtype = precision.spec_dtype(spec)
    model_spec = spec.model
    if hasattr(model_spec, "preset"):
        from tunix.models import dummy_model_creator
        from tunix.models.gemma3 import model as gemma3

        config = preset_config(model_spec.preset, vocab_size, context_length, dtype)
        # Drawn in float32 then cast: a bfloat16 run starts from the float32 run's weights
        # rounded, for the same seed.
        model = dummy_model_creator.create_dummy_model(
            gemma3.Gemma3, config, dtype=jnp.float32, random_seed=spec.hyperparameters.seed
        )
        if dtype != jnp.float32:
            precision.cast_params(model, dtype)
    else:
        directory = Path(model_spec.path)
        if hf_config.has_config(directory):
            model = load_hf_checkpoint(directory, model_spec.family, dtype)
            config = model.config
        else:
            if not directory.is_dir() or not any(directory.glob("*.safetensors")):
                raise ModelError(f"model.path {directory} has no *.safetensors files")
            if model_spec.config_preset is None:
                raise ModelError(
                    f"model.path {directory} has no config.json: give model.config_preset"
                )
            config, params = _pretrained_config(model_spec.family, model_spec.config_preset)
            if hasattr(config, "param_dtype"):
                config = dataclasses.replace(config, param_dtype=dtype)
            if hasattr(config, "dtype"):
                config = dataclasses.replace(config, dtype=dtype)
            model = params.create_model_from_safe_tensors(str(directory), config, None, dtype)
            config = model.config if hasattr(model, "config") else config
    lora = spec.hyperparameters.lora_rank is not None
    if lora:
        model = apply_lora(model, spec.hyperparameters.lora_rank or 1, spec.lora_alpha)
    layout = CacheLayout(config.num_layers, config.num_kv_heads, config.head_dim)
    return BuiltModel(model=model, layout=layout, param_count=count_params(model), lora=lora)


def apply_lora(model: Any, rank: int, alpha: float) -> Any:
    import qwix

    provider = qwix.LoraProvider(module_path=LORA_MODULE_PATH, rank=rank, alpha=alpha)
    return qwix.apply_lora_to_model(model, provider, **model.get_model_input())
