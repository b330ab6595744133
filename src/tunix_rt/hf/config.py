"""A Hugging Face checkpoint directory: its architecture (config.json) and its tensors.

Reads config.json for gemma3 (text), qwen2, qwen3 and llama (3.x) into an `Architecture`,
and the safetensors headers (8-byte length + JSON, read by hand: no weight is touched) to
check that every tensor the architecture implies is there with its shape and a dtype the
loader handles, before anything is loaded. Imports nothing from the training stack, so the
API can run the same checks when a run is submitted.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"
# model_type in config.json -> our family name (the Tunix module).
FAMILY_OF_MODEL_TYPE = {
    "gemma3_text": "gemma3",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "llama": "llama3",
}
DTYPE_BYTES = {"F32": 4, "BF16": 2, "F16": 2}
MAX_HEADER_BYTES = 100_000_000
# Tunix's Gemma3 cycles this pattern of layer kinds (gemma3.GEMMA3_ATTENTION_PATTERN).
GEMMA3_LAYER_PATTERN = ("sliding_attention",) * 5 + ("full_attention",)
# Tensors a checkpoint may carry that no model parameter corresponds to.
IGNORABLE_TENSOR_RE = re.compile(r"(^|\.)rotary_emb\.inv_freq$")


class CheckpointError(ValueError):
    """The checkpoint directory cannot be used: the message names the file or tensor."""


@dataclass(frozen=True)
class Llama3RopeScaling:
    factor: float
    low_freq_factor: float
    high_freq_factor: float
    original_max_position_embeddings: int


@dataclass(frozen=True)
class Architecture:
    family: str
    num_layers: int
    vocab_size: int
    embed_dim: int
    hidden_dim: int
    num_heads: int
    head_dim: int
    num_kv_heads: int
    rope_theta: float
    norm_eps: float
    tied_embeddings: bool
    qkv_bias: bool = False
    qk_norm: bool = False
    # gemma3 only
    sliding_window: int | None = None
    local_rope_theta: float = 10_000.0
    global_scale_factor: float = 1.0
    query_pre_attn_scalar: float | None = None
    # llama3 (and qwen3) only: the `llama3` rope_type
    llama3_rope_scaling: Llama3RopeScaling | None = None


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: str
    file: str


def read_config(directory: Path) -> dict[str, Any]:
    path = directory / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path} not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    return data


def has_config(directory: Path) -> bool:
    return (directory / CONFIG_FILE).is_file()


def family_of(config: dict[str, Any]) -> str:
    model_type = config.get("model_type")
    family = FAMILY_OF_MODEL_TYPE.get(str(model_type))
    if family is None:
        hint = " (use the text model, Gemma3ForCausalLM)" if model_type == "gemma3" else ""
        raise CheckpointError(
            f"config.json model_type {model_type!r} is not supported{hint}; supported: "
            + ", ".join(sorted(FAMILY_OF_MODEL_TYPE))
        )
    return family


def _int(config: dict[str, Any], key: str, default: int | None = None) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CheckpointError(f"config.json {key} must be a positive integer, got {value!r}")
    return value


def _float(config: dict[str, Any], key: str, default: float | None = None) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise CheckpointError(f"config.json {key} must be a positive number, got {value!r}")
    return float(value)


def _rope(config: dict[str, Any], kind: str | None = None) -> tuple[float, dict[str, Any] | None]:
    """(theta, scaling) from the legacy keys (rope_theta, rope_scaling) or transformers 5's
    rope_parameters (per layer kind for Gemma3)."""
    params = config.get("rope_parameters")
    if isinstance(params, dict) and kind is not None and isinstance(params.get(kind), dict):
        params = params[kind]
    if isinstance(params, dict) and "rope_theta" in params:
        scaling = params if params.get("rope_type", "default") != "default" else None
        return _float(params, "rope_theta"), scaling
    default_theta = 10_000.0
    if kind == "sliding_attention":
        return _float(config, "rope_local_base_freq", default_theta), None
    scaling = config.get("rope_scaling")
    if isinstance(scaling, dict) and scaling.get("rope_type", scaling.get("type")) == "default":
        scaling = None
    return _float(config, "rope_theta", default_theta), scaling


def _rope_type(scaling: dict[str, Any]) -> str:
    return str(scaling.get("rope_type", scaling.get("type")))


def _llama3_scaling(scaling: dict[str, Any] | None) -> Llama3RopeScaling | None:
    if scaling is None:
        return None
    if _rope_type(scaling) != "llama3":
        raise CheckpointError(
            f"config.json rope scaling {_rope_type(scaling)!r} is not supported "
            "(supported: none, llama3)"
        )
    return Llama3RopeScaling(
        factor=_float(scaling, "factor"),
        low_freq_factor=_float(scaling, "low_freq_factor"),
        high_freq_factor=_float(scaling, "high_freq_factor"),
        original_max_position_embeddings=_int(scaling, "original_max_position_embeddings"),
    )


def _refuse(config: dict[str, Any], key: str, allowed: object) -> None:
    value = config.get(key, allowed)
    if value != allowed:
        raise CheckpointError(f"config.json {key}={value!r} is not supported (only {allowed!r})")


def _gemma3_layer_kinds(config: dict[str, Any], num_layers: int) -> None:
    kinds = config.get("layer_types")
    if kinds is None:
        pattern = config.get("sliding_window_pattern", 6)
        if pattern != len(GEMMA3_LAYER_PATTERN):
            raise CheckpointError(
                f"config.json sliding_window_pattern={pattern!r} is not supported "
                f"(Tunix's Gemma3 has a global layer every {len(GEMMA3_LAYER_PATTERN)})"
            )
        return
    expected = [GEMMA3_LAYER_PATTERN[i % len(GEMMA3_LAYER_PATTERN)] for i in range(num_layers)]
    if list(kinds) != expected:
        raise CheckpointError(
            f"config.json layer_types {kinds} differ from Tunix's Gemma3 pattern {expected}"
        )


def architecture_of(config: dict[str, Any]) -> Architecture:
    family = family_of(config)
    embed_dim = _int(config, "hidden_size")
    num_heads = _int(config, "num_attention_heads")
    num_layers = _int(config, "num_hidden_layers")
    head_dim = _int(config, "head_dim", embed_dim // num_heads if embed_dim >= num_heads else 0)
    num_kv_heads = _int(config, "num_key_value_heads", num_heads)
    if num_heads % num_kv_heads:
        raise CheckpointError(
            f"config.json num_attention_heads {num_heads} is not a multiple of "
            f"num_key_value_heads {num_kv_heads}"
        )
    common: dict[str, Any] = {
        "family": family,
        "num_layers": num_layers,
        "vocab_size": _int(config, "vocab_size"),
        "embed_dim": embed_dim,
        "hidden_dim": _int(config, "intermediate_size"),
        "num_heads": num_heads,
        "head_dim": head_dim,
        "num_kv_heads": num_kv_heads,
        "norm_eps": _float(config, "rms_norm_eps", 1e-6),
    }
    act = config.get("hidden_activation", config.get("hidden_act"))
    if family == "gemma3":
        if act not in ("gelu_pytorch_tanh", None):
            raise CheckpointError(f"config.json activation {act!r} is not supported for gemma3")
        for key in ("final_logit_softcapping", "attn_logit_softcapping"):
            _refuse(config, key, None)
        if common["norm_eps"] != 1e-6:
            raise CheckpointError("config.json rms_norm_eps must be 1e-06 for gemma3 (Tunix)")
        _gemma3_layer_kinds(config, num_layers)
        global_theta, scaling = _rope(config, "full_attention")
        local_theta, local_scaling = _rope(config, "sliding_attention")
        factor = 1.0
        if scaling is not None:
            if _rope_type(scaling) != "linear":
                raise CheckpointError(
                    f"config.json gemma3 rope scaling {_rope_type(scaling)!r} is not supported "
                    "(supported: none, linear)"
                )
            factor = _float(scaling, "factor")
        if local_scaling is not None:
            raise CheckpointError("config.json: rope scaling on sliding layers is not supported")
        if not config.get("tie_word_embeddings", True):
            raise CheckpointError("gemma3 with untied embeddings is not supported by Tunix")
        return Architecture(
            **common,
            rope_theta=global_theta,
            tied_embeddings=True,
            qk_norm=True,
            sliding_window=_int(config, "sliding_window"),
            local_rope_theta=local_theta,
            global_scale_factor=factor,
            query_pre_attn_scalar=_float(config, "query_pre_attn_scalar", head_dim),
        )
    if act != "silu":
        raise CheckpointError(f"config.json hidden_act {act!r} is not supported (only silu)")
    theta, scaling = _rope(config)
    if family == "qwen2":
        if config.get("use_sliding_window"):
            raise CheckpointError("config.json use_sliding_window=true is not supported")
        if scaling is not None:
            raise CheckpointError(
                f"config.json rope scaling {_rope_type(scaling)!r} is not supported for qwen2"
            )
    else:
        _refuse(config, "attention_bias", False)
    if family == "llama3":
        _refuse(config, "mlp_bias", False)
    return Architecture(
        **common,
        rope_theta=theta,
        tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        qkv_bias=family == "qwen2",
        qk_norm=family == "qwen3",
        llama3_rope_scaling=_llama3_scaling(scaling) if family != "qwen2" else None,
    )


def expected_tensors(arch: Architecture) -> dict[str, tuple[int, ...]]:
    """Hugging Face tensor names and shapes the architecture implies."""
    d, h = arch.embed_dim, arch.head_dim
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (arch.vocab_size, d),
        "model.norm.weight": (d,),
    }
    if not arch.tied_embeddings:
        shapes["lm_head.weight"] = (arch.vocab_size, d)
    for i in range(arch.num_layers):
        p = f"model.layers.{i}."
        shapes.update(
            {
                p + "self_attn.q_proj.weight": (arch.num_heads * h, d),
                p + "self_attn.k_proj.weight": (arch.num_kv_heads * h, d),
                p + "self_attn.v_proj.weight": (arch.num_kv_heads * h, d),
                p + "self_attn.o_proj.weight": (d, arch.num_heads * h),
                p + "mlp.gate_proj.weight": (arch.hidden_dim, d),
                p + "mlp.up_proj.weight": (arch.hidden_dim, d),
                p + "mlp.down_proj.weight": (d, arch.hidden_dim),
                p + "input_layernorm.weight": (d,),
                p + "post_attention_layernorm.weight": (d,),
            }
        )
        if arch.qkv_bias:
            shapes[p + "self_attn.q_proj.bias"] = (arch.num_heads * h,)
            shapes[p + "self_attn.k_proj.bias"] = (arch.num_kv_heads * h,)
            shapes[p + "self_attn.v_proj.bias"] = (arch.num_kv_heads * h,)
        if arch.qk_norm:
            shapes[p + "self_attn.q_norm.weight"] = (h,)
            shapes[p + "self_attn.k_norm.weight"] = (h,)
        if arch.family == "gemma3":
            shapes[p + "pre_feedforward_layernorm.weight"] = (d,)
            shapes[p + "post_feedforward_layernorm.weight"] = (d,)
    return shapes


def read_safetensors_header(path: Path) -> dict[str, TensorInfo]:
    try:
        with path.open("rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                raise CheckpointError(f"{path.name} is not a safetensors file (too short)")
            (length,) = struct.unpack("<Q", raw)
            if length > MAX_HEADER_BYTES:
                raise CheckpointError(f"{path.name}: header of {length} bytes is not plausible")
            header = json.loads(f.read(length).decode("utf-8"))
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path.name}: safetensors header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name}: safetensors header is not a JSON object")
    tensors: dict[str, TensorInfo] = {}
    data_bytes = size - 8 - length
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        try:
            shape = tuple(int(n) for n in meta["shape"])
            dtype = str(meta["dtype"])
            start, end = (int(n) for n in meta["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path.name}: bad header entry for {name}") from exc
        itemsize = DTYPE_BYTES.get(dtype)
        if itemsize is not None and (
            end - start != math.prod(shape) * itemsize or end > data_bytes
        ):
            raise CheckpointError(
                f"{path.name}: tensor {name} {list(shape)} {dtype} does not fit its byte range"
            )
        tensors[name] = TensorInfo(shape=shape, dtype=dtype, file=path.name)
    return tensors


def read_tensors(directory: Path) -> dict[str, TensorInfo]:
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise CheckpointError(f"{directory} has no *.safetensors files")
    tensors: dict[str, TensorInfo] = {}
    for path in files:
        header = read_safetensors_header(path)
        dtypes = {info.dtype for info in header.values()}
        if len(dtypes) > 1:
            # Tunix's safetensors loader reads a whole file with its first tensor's dtype.
            raise CheckpointError(
                f"{path.name} mixes dtypes {sorted(dtypes)}; the loader needs one per file"
            )
        for name, info in header.items():
            if name in tensors:
                raise CheckpointError(
                    f"tensor {name} is in both {tensors[name].file} and {path.name}"
                )
            tensors[name] = info
    return tensors


def check_tensors(arch: Architecture, tensors: dict[str, TensorInfo]) -> None:
    """Every tensor the config implies, with its shape; no tensor that would be dropped."""
    expected = expected_tensors(arch)
    problems: list[str] = []
    for name, shape in expected.items():
        info = tensors.get(name)
        if info is None:
            problems.append(f"tensor {name} is missing (config.json implies {list(shape)})")
        elif info.shape != shape:
            problems.append(
                f"tensor {name} has shape {list(info.shape)} in {info.file} but config.json "
                f"implies {list(shape)}"
            )
        elif info.dtype not in DTYPE_BYTES:
            problems.append(f"tensor {name} has dtype {info.dtype} (supported: F32, BF16, F16)")
    for name, info in tensors.items():
        if name in expected or IGNORABLE_TENSOR_RE.search(name):
            continue
        if name == "lm_head.weight" and arch.tied_embeddings:
            # Tied: transformers ties lm_head to the embedding too, whatever the file holds.
            if info.shape != (arch.vocab_size, arch.embed_dim):
                problems.append(
                    f"tensor lm_head.weight has shape {list(info.shape)} but config.json "
                    f"implies {[arch.vocab_size, arch.embed_dim]}"
                )
            continue
        problems.append(f"tensor {name} ({info.file}) is not part of the {arch.family} model")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise CheckpointError(
            "checkpoint does not match config.json: " + "; ".join(problems[:5]) + more
        )


@dataclass(frozen=True)
class Checkpoint:
    directory: Path
    arch: Architecture
    tensors: dict[str, TensorInfo]

    @property
    def param_count(self) -> int:
        names = expected_tensors(self.arch)
        return sum(math.prod(self.tensors[n].shape) for n in names)


def inspect_checkpoint(directory: Path) -> Checkpoint:
    """config.json read and checked against the safetensors headers; no weight is read."""
    if not directory.is_dir():
        raise CheckpointError(f"model directory {directory} does not exist")
    arch = architecture_of(read_config(directory))
    tensors = read_tensors(directory)
    check_tensors(arch, tensors)
    return Checkpoint(directory=directory, arch=arch, tensors=tensors)


def size_label(param_count: int) -> str:
    """1_234_567 -> "1.2m"; for a model_id like qwen3-596m."""
    if param_count >= 1_000_000_000:
        return f"{param_count / 1e9:.1f}b".replace(".0b", "b")
    if param_count >= 1_000_000:
        return f"{param_count / 1e6:.0f}m"
    return f"{param_count / 1e6:.2f}m"
