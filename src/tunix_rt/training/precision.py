"""Precision: weights and compute in float32 or bfloat16 (hyperparameters.dtype).

In a bfloat16 run the model's parameters are bfloat16, so every matmul, activation and
sampling step runs in bfloat16. What must stay float32 for stable training stays float32:

- the loss: the logits are cast to float32 before log-softmax (`float32_loss_fn`);
- the optimizer: `float32_master` keeps a float32 master copy of the trained parameters
  and AdamW's moments (computed from the gradients cast to float32) in the optimizer
  state. Each step updates the master in float32 and hands the model the update that
  turns its bfloat16 parameters into the master rounded to bfloat16, so small updates
  accumulate in the master instead of being rounded away. The master and the moments are
  saved with the optimizer state in every checkpoint, so a resumed run continues exactly.

A float32 run uses none of this: Tunix's default loss and plain AdamW, as before.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tunix_rt.training.spec import Spec

DTYPE_NAMES = ("float32", "bfloat16")


def jnp_dtype(name: str) -> Any:
    import jax.numpy as jnp

    return {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[name]


def spec_dtype(spec: Spec) -> Any:
    return jnp_dtype(spec.hyperparameters.dtype)


def is_reduced(spec: Spec) -> bool:
    return spec.hyperparameters.dtype != "float32"


def cast_params(model: Any, dtype: Any) -> None:
    """Cast the model's floating-point parameters to dtype, in place."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    state = nnx.state(model, nnx.Param)

    def cast(leaf: Any) -> Any:
        return leaf.astype(dtype) if jnp.issubdtype(leaf.dtype, jnp.floating) else leaf

    nnx.update(model, jax.tree.map(cast, state))


def param_dtypes(model: Any) -> set[str]:
    """The dtype names of the model's parameters (a check for tests and logs)."""
    import jax
    from flax import nnx

    return {str(leaf.dtype) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))}


class MasterState(NamedTuple):
    # The wrapped optimizer's state first: Tunix reads the learning rate from the first
    # element of a tuple-shaped optimizer state that has `hyperparams`.
    inner: Any
    master: Any


def float32_master(inner: Any) -> Any:
    """An optax GradientTransformation: `inner` run on float32 gradients against a float32
    master copy of the parameters, whose updates reach low-precision parameters exactly as
    `master rounded to the parameters' dtype`."""
    import jax
    import jax.numpy as jnp
    import optax

    def to_float32(tree: Any) -> Any:
        return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)

    def init(params: Any) -> MasterState:
        master = to_float32(params)
        return MasterState(inner=inner.init(master), master=master)

    def update(updates: Any, state: MasterState, params: Any = None) -> Any:
        if params is None:
            raise ValueError("float32_master needs the parameters")
        step, inner_state = inner.update(to_float32(updates), state.inner, state.master)
        master = optax.apply_updates(state.master, step)
        # optax.apply_updates adds in float32 and casts to the parameter's dtype.
        delta = jax.tree.map(lambda m, p: m - jnp.asarray(p, jnp.float32), master, params)
        return delta, MasterState(inner=inner_state, master=master)

    return optax.GradientTransformation(init, update)


def float32_loss_fn(
    model: Any,
    input_tokens: Any,
    input_mask: Any,
    positions: Any,
    attention_mask: Any,
    images: Any = None,
) -> Any:
    """Masked next-token negative log-likelihood with the log-softmax in float32."""
    import jax.numpy as jnp
    import optax

    kwargs = {} if images is None else {"images": images}
    logits, _ = model(input_tokens, positions, None, attention_mask, **kwargs)
    logits = logits[:, :-1, :].astype(jnp.float32)
    targets = input_tokens[:, 1:]
    weights = input_mask[:, 1:].astype(jnp.float32)
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    return jnp.sum(nll * weights) / (jnp.sum(weights) + 1e-8)
