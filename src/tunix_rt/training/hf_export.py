"""A Tunix model's weights in Hugging Face's layout: merged safetensors and PEFT adapters.

The name and layout of each tensor come from inverting the family's own Tunix loading table
(`_get_key_and_transform_mapping`: HF name regex -> (Tunix name, (permute, reshape))), for
every tensor `hf_config.expected_tensors` says the architecture has, so export and loading
cannot drift apart. Gemma3 keeps q/k/v in fused einsum kernels (q_einsum + kv_einsum, or
qkv_einsum when heads == kv heads): they are split back first.

LoRA (qwix): a LoRA'd kernel W carries W_lora_a (its contracted axes, in W's order, then the
rank) and W_lora_b (the rank, then W's other axes); the layer adds x.A.B * alpha / rank. The
merged kernel is W + (A.B * alpha / rank) laid out in W's axis order (taken from the
module's einsum string; a Linear kernel is (in, out)). For PEFT, A flattens to lora_A
(rank, in_features) and B to lora_B (out_features, rank): the contracted axes flatten to the
HF in-features order and the others to the out-features order, as the loading table says.

Safetensors are written here (8-byte header length, JSON header, raw little-endian bytes),
sharded past `max_shard_bytes` with a model.safetensors.index.json, as transformers does.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunix_rt.hf import config as hf_config
from tunix_rt.hf.config import Architecture
from tunix_rt.training.presets import ModelError

SAFETENSORS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
ADAPTER_FILE = "adapter_model.safetensors"
ADAPTER_CONFIG_FILE = "adapter_config.json"
DTYPE_NAMES = {np.dtype("float32"): "F32", np.dtype("float16"): "F16"}
GEMMA3_QKV = re.compile(r"^tmp\.layers\.([0-9]+)\.attn\.([qkv])$")
HEADER_ALIGN_BYTES = 8


class ExportError(ModelError):
    """The model cannot be exported as asked (exit 2: the request does not fit the run)."""


@dataclass(frozen=True)
class LoraPair:
    a: np.ndarray  # contracted axes of the kernel (its order), then rank
    b: np.ndarray  # rank, then the kernel's other axes (its order)
    a_axes: tuple[int, ...]  # kernel axes covered by a
    b_axes: tuple[int, ...]


@dataclass(frozen=True)
class ModelWeights:
    params: dict[str, np.ndarray]  # Tunix name -> array (LoRA not merged)
    lora: dict[str, LoraPair]  # Tunix kernel name -> its LoRA pair


def _kernel_axes(module: Any, kernel_ndim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    einsum_str = getattr(module, "einsum_str", None)
    if isinstance(einsum_str, str):
        lhs, rest = einsum_str.replace(" ", "").split(",", 1)
        rhs = rest.split("->", 1)[0]
        a_axes = tuple(i for i, c in enumerate(rhs) if c in lhs)
        b_axes = tuple(i for i, c in enumerate(rhs) if c not in lhs)
        return a_axes, b_axes
    if kernel_ndim != 2:
        raise ExportError(f"cannot tell the axes of a {kernel_ndim}-d LoRA kernel")
    return (0,), (1,)


def read_weights(model: Any) -> ModelWeights:
    """Every parameter of an nnx model as float32 numpy, and its LoRA pairs."""
    from flax import nnx

    modules: dict[tuple[Any, ...], Any] = {}
    params: dict[str, np.ndarray] = {}
    lora_parts: dict[str, dict[str, np.ndarray]] = {}
    for path, node in nnx.iter_graph(model):
        if isinstance(node, nnx.Module):
            modules[tuple(path)] = node
        elif isinstance(node, nnx.LoRAParam):
            owner, leaf = ".".join(map(str, path[:-1])), str(path[-1])
            for suffix in ("_lora_a", "_lora_b"):
                if leaf.endswith(suffix):
                    kernel = f"{owner}.{leaf[: -len(suffix)]}"
                    lora_parts.setdefault(kernel, {})[suffix[-1]] = np.asarray(
                        node.get_value(), dtype=np.float32
                    )
                    lora_parts[kernel]["__module__"] = path[:-1]  # type: ignore[assignment]
        elif isinstance(node, nnx.Param):
            params[".".join(map(str, path))] = np.asarray(node.get_value(), dtype=np.float32)
    lora: dict[str, LoraPair] = {}
    for kernel, parts in lora_parts.items():
        if kernel not in params or "a" not in parts or "b" not in parts:
            raise ExportError(f"LoRA parameters of {kernel} are incomplete")
        module = modules.get(tuple(parts["__module__"]))
        a_axes, b_axes = _kernel_axes(module, params[kernel].ndim)
        lora[kernel] = LoraPair(a=parts["a"], b=parts["b"], a_axes=a_axes, b_axes=b_axes)
    return ModelWeights(params=params, lora=lora)


def lora_delta(kernel_shape: tuple[int, ...], pair: LoraPair, scale: float) -> np.ndarray:
    """A.B * scale in the kernel's axis order."""
    delta = np.tensordot(pair.a, pair.b, axes=([pair.a.ndim - 1], [0])) * np.float32(scale)
    order = pair.a_axes + pair.b_axes
    delta = delta.reshape([kernel_shape[i] for i in order])
    return np.transpose(delta, np.argsort(order)).astype(np.float32)


def merged_params(weights: ModelWeights, scale: float) -> dict[str, np.ndarray]:
    merged = dict(weights.params)
    for kernel, pair in weights.lora.items():
        merged[kernel] = merged[kernel] + lora_delta(merged[kernel].shape, pair, scale)
    return merged


def _family_mapping(arch: Architecture, tunix_config: Any) -> dict[str, Any]:
    from tunix_rt.training import hf_model

    module = importlib.import_module(hf_model.MODULES[arch.family][1])
    mapping: dict[str, Any] = module._get_key_and_transform_mapping(tunix_config)
    return mapping


def _gemma3_unfused(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Gemma3's fused einsum kernels as the loader's intermediate q/k/v (D, heads, H)."""
    out = dict(params)
    for name in [n for n in params if re.search(r"\.attn\.(q|kv|qkv)_einsum\.w$", n)]:
        prefix = name.rsplit(".attn.", 1)[0]
        kernel = out.pop(name)
        kind = name.rsplit(".", 2)[-2]
        parts = {"q_einsum": ["q"], "kv_einsum": ["k", "v"], "qkv_einsum": ["q", "k", "v"]}[kind]
        stacked = [kernel] if kind == "q_einsum" else list(kernel)
        for slot, part in zip(parts, stacked, strict=True):
            out[f"tmp.{prefix}.attn.{slot}"] = np.transpose(part, (1, 0, 2))  # (N,D,H)->(D,N,H)
    return out


def _to_hf_layout(array: np.ndarray, hf_shape: tuple[int, ...], transform: Any) -> np.ndarray:
    if transform is None:
        return array.reshape(hf_shape)
    permute, _reshape = transform
    if not permute:
        return array.reshape(hf_shape)
    permuted = tuple(hf_shape[p] for p in permute)
    return np.transpose(array.reshape(permuted), np.argsort(permute))


def hf_names(arch: Architecture, tunix_config: Any) -> dict[str, tuple[str, Any]]:
    """HF tensor name -> (Tunix name, the loader's transform), for every tensor of arch."""
    mapping = _family_mapping(arch, tunix_config)
    compiled = [(re.compile(pattern), target) for pattern, target in mapping.items()]
    names: dict[str, tuple[str, Any]] = {}
    for hf_name in hf_config.expected_tensors(arch):
        for pattern, (template, transform) in compiled:
            match = pattern.fullmatch(hf_name)
            if match is not None:
                names[hf_name] = (match.expand(template), transform)
                break
        else:
            raise ExportError(f"no Tunix parameter corresponds to {hf_name}")
    return names


def to_hf_tensors(
    arch: Architecture, tunix_config: Any, params: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Tunix parameters (LoRA merged) as HF tensors; every parameter must be used."""
    source = _gemma3_unfused(params) if arch.family == "gemma3" else dict(params)
    expected = hf_config.expected_tensors(arch)
    tensors: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for hf_name, (tunix_name, transform) in hf_names(arch, tunix_config).items():
        if tunix_name not in source:
            raise ExportError(f"the model has no parameter {tunix_name} (for {hf_name})")
        tensors[hf_name] = np.ascontiguousarray(
            _to_hf_layout(source[tunix_name], expected[hf_name], transform), dtype=np.float32
        )
        used.add(tunix_name)
    left = sorted(set(source) - used)
    if left:
        raise ExportError(f"parameters with no Hugging Face name: {', '.join(left[:5])}")
    return tensors


def peft_tensors(
    arch: Architecture, tunix_config: Any, weights: ModelWeights
) -> tuple[dict[str, np.ndarray], list[str]]:
    """PEFT's adapter tensors (base_model.model.<module>.lora_A.weight (r, in) and
    .lora_B.weight (out, r)) and the target module short names."""
    by_kernel: dict[str, list[tuple[str, int | None]]] = {}
    for hf_name, (tunix_name, _t) in hf_names(arch, tunix_config).items():
        match = GEMMA3_QKV.match(tunix_name)
        if match is None:
            by_kernel.setdefault(tunix_name, []).append((hf_name, None))
            continue
        layer, slot = match.groups()
        fused = f"layers.{layer}.attn.qkv_einsum.w"
        if fused in weights.params:
            by_kernel.setdefault(fused, []).append((hf_name, "qkv".index(slot)))
        elif slot == "q":
            by_kernel.setdefault(f"layers.{layer}.attn.q_einsum.w", []).append((hf_name, None))
        else:
            by_kernel.setdefault(f"layers.{layer}.attn.kv_einsum.w", []).append(
                (hf_name, "kv".index(slot))
            )
    tensors: dict[str, np.ndarray] = {}
    targets: set[str] = set()
    for kernel, pair in sorted(weights.lora.items()):
        owners = by_kernel.get(kernel)
        if not owners:
            raise ExportError(f"LoRA kernel {kernel} has no Hugging Face module")
        rank = pair.a.shape[-1]
        lora_a = pair.a.reshape(-1, rank).T
        for hf_name, index in owners:
            b = pair.b if index is None else pair.b[:, index]
            lora_b = b.reshape(rank, -1).T
            module = hf_name.removesuffix(".weight")
            prefix = f"base_model.model.{module}"
            tensors[f"{prefix}.lora_A.weight"] = np.ascontiguousarray(lora_a, dtype=np.float32)
            tensors[f"{prefix}.lora_B.weight"] = np.ascontiguousarray(lora_b, dtype=np.float32)
            targets.add(module.rsplit(".", 1)[-1])
    return tensors, sorted(targets)


def adapter_config(
    rank: int, alpha: float, targets: list[str], base_model: str | None
) -> dict[str, Any]:
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": rank,
        "lora_alpha": alpha,
        "lora_dropout": 0.0,
        "target_modules": targets,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "use_rslora": False,
        "use_dora": False,
        "modules_to_save": None,
        "layers_to_transform": None,
        "layers_pattern": None,
        "rank_pattern": {},
        "alpha_pattern": {},
    }


def _encode_header(entries: dict[str, Any]) -> bytes:
    raw = json.dumps(entries, separators=(",", ":")).encode("utf-8")
    return raw + b" " * (-len(raw) % HEADER_ALIGN_BYTES)


def write_safetensors_file(path: Path, tensors: dict[str, np.ndarray]) -> None:
    entries: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, array in tensors.items():
        dtype = DTYPE_NAMES.get(array.dtype)
        if dtype is None:
            raise ExportError(f"tensor {name}: dtype {array.dtype} cannot be written")
        size = array.size * array.itemsize
        entries[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    header = _encode_header(entries)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as out:
        out.write(len(header).to_bytes(8, "little"))
        out.write(header)
        for array in tensors.values():
            out.write(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())
    tmp.replace(path)


def _shards(tensors: dict[str, np.ndarray], max_shard_bytes: int) -> list[list[str]]:
    shards: list[list[str]] = [[]]
    size = 0
    for name, array in tensors.items():
        nbytes = array.size * array.itemsize
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    return shards


def write_model(directory: Path, tensors: dict[str, np.ndarray], max_shard_bytes: int) -> list[str]:
    """model.safetensors, or model-0000i-of-0000n.safetensors + the index; the file names."""
    shards = _shards(tensors, max_shard_bytes)
    if len(shards) == 1:
        write_safetensors_file(directory / SAFETENSORS_FILE, tensors)
        return [SAFETENSORS_FILE]
    files: list[str] = []
    weight_map: dict[str, str] = {}
    for number, names in enumerate(shards, start=1):
        file = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors_file(directory / file, {n: tensors[n] for n in names})
        weight_map.update(dict.fromkeys(names, file))
        files.append(file)
    total = sum(a.size * a.itemsize for a in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return files


def gemma3_preset_config(
    tunix_config: Any, bos_id: int, eos_id: int, pad_id: int
) -> dict[str, Any]:
    """config.json (Gemma3ForCausalLM, transformers' gemma3_text) of a from-scratch preset."""
    layers = int(tunix_config.num_layers)
    pattern = hf_config.GEMMA3_LAYER_PATTERN
    global_theta = float(tunix_config.global_base_frequency)
    local_theta = float(tunix_config.local_base_frequency)
    return {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "vocab_size": int(tunix_config.num_embed),
        "hidden_size": int(tunix_config.embed_dim),
        "intermediate_size": int(tunix_config.hidden_dim),
        "num_hidden_layers": layers,
        "num_attention_heads": int(tunix_config.num_heads),
        "num_key_value_heads": int(tunix_config.num_kv_heads),
        "head_dim": int(tunix_config.head_dim),
        "hidden_activation": "gelu_pytorch_tanh",
        "rms_norm_eps": 1e-6,
        "query_pre_attn_scalar": int(tunix_config.head_dim),
        "sliding_window": int(tunix_config.sliding_window_size),
        "layer_types": [pattern[i % len(pattern)] for i in range(layers)],
        "max_position_embeddings": int(tunix_config.sliding_window_size),
        "rope_theta": global_theta,
        "rope_local_base_freq": local_theta,
        "rope_parameters": {
            "full_attention": {"rope_theta": global_theta, "rope_type": "default"},
            "sliding_attention": {"rope_theta": local_theta, "rope_type": "default"},
        },
        "attn_logit_softcapping": None,
        "final_logit_softcapping": None,
        "attention_bias": False,
        "tie_word_embeddings": True,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "pad_token_id": pad_id,
        "dtype": "float32",
        "torch_dtype": "float32",
    }


def copy_files(sources: Iterable[Path], directory: Path) -> list[str]:
    copied = []
    for source in sources:
        if source.is_file():
            (directory / source.name).write_bytes(source.read_bytes())
            copied.append(source.name)
    return copied


def tensor_bytes(tensors: dict[str, np.ndarray]) -> int:
    return sum(math.prod(a.shape) * a.itemsize for a in tensors.values())
