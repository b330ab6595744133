"""Devices: the mesh a training run shards its model and batches over (hyperparameters.mesh).

No mesh (the default): everything runs on JAX's default device, as a single-device run
always has. A mesh of `data x model` devices maps onto the axes Tunix's model sharding
configs name: `data` is Tunix's `fsdp` axis (each batch is split over it, and parameters
are sharded over it too, FSDP-style) and `model` is Tunix's `tp` axis (attention heads,
MLP hidden units and the vocabulary are split over it). The run uses the first
data * model local devices; fewer than that is a clear error (exit 2).

The model is built on one device exactly as without a mesh (the same initial weights for
the same seed), then its parameters are placed on the mesh by their Tunix partition specs;
PeftTrainer shards each batch over the data axis and the optimizer state like the params.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

from tunix_rt.training.presets import ModelError
from tunix_rt.training.spec import Spec

# Our axis names -> the axis names Tunix's ShardingConfigs use.
DATA_AXIS = "fsdp"
MODEL_AXIS = "tp"


class MeshError(ModelError):
    """The requested mesh does not fit the devices this process sees."""


def make_mesh(spec: Spec) -> Any | None:
    """The run's device mesh, or None for a single-device run."""
    mesh_spec = spec.hyperparameters.mesh
    if mesh_spec is None:
        return None
    import jax
    from tunix.utils.mesh import create_mesh

    devices = jax.devices()
    needed = mesh_spec.data * mesh_spec.model
    if needed > len(devices):
        platform = devices[0].platform if devices else "none"
        raise MeshError(
            f"hyperparameters.mesh {mesh_spec.data}x{mesh_spec.model} needs {needed} devices "
            f"but this process sees {len(devices)} {platform} device"
            f"{'' if len(devices) == 1 else 's'}"
        )
    return create_mesh(
        (mesh_spec.data, mesh_spec.model), (DATA_AXIS, MODEL_AXIS), devices=devices[:needed]
    )


@contextlib.contextmanager
def active(mesh: Any | None) -> Iterator[None]:
    """Make mesh the current one (Tunix's trainer reads it from JAX's thread resources,
    which only the `with mesh:` form sets in this JAX); no-op without a mesh."""
    if mesh is None:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        mesh.__enter__()
    try:
        yield
    finally:
        mesh.__exit__(None, None, None)


def shard_model(model: Any, mesh: Any | None) -> tuple[int, int]:
    """Place the model's state on the mesh by its Tunix partition specs (a parameter
    without one, such as a LoRA factor, is replicated); no-op without a mesh.
    Returns (parameter arrays split over the mesh, parameter arrays)."""
    import jax
    from flax import nnx

    if mesh is None:
        return 0, len(jax.tree.leaves(nnx.state(model, nnx.Param)))
    state = nnx.state(model)
    with active(mesh):
        shardings = nnx.get_named_sharding(state, mesh)
    nnx.update(model, jax.device_put(state, shardings))
    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    split = sum(1 for leaf in params if not leaf.sharding.is_fully_replicated)
    return split, len(params)


def describe(mesh: Any | None, split: tuple[int, int] = (0, 0)) -> str:
    if mesh is None:
        import jax

        return f"one device ({jax.devices()[0].platform})"
    shape = dict(mesh.shape)
    return (
        f"mesh data {shape[DATA_AXIS]} x model {shape[MODEL_AXIS]} "
        f"({mesh.devices.size} {mesh.devices.flat[0].platform} devices; {split[0]} of "
        f"{split[1]} parameter arrays split over it)"
    )
