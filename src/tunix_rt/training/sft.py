"""SFT: Tunix PeftTrainer with AdamW (warmup + cosine), Orbax checkpoints, live metrics.

Progress comes from Tunix itself: a metrics backend (jax.monitoring listener, filtered on
our prefix because listeners are process-global and also see compile/Orbax events) turns
the trainer's loss/perplexity/learning_rate/grad_norm into metric events, and
TrainingHooks announce phases and committed checkpoints.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from tunix_rt.training import devices, precision
from tunix_rt.training.batches import PAD_ID, BatchPlan, iter_batches
from tunix_rt.training.events import EventChannel
from tunix_rt.training.presets import BuiltModel
from tunix_rt.training.spec import Spec
from tunix_rt.training.stop import StopSignal
from tunix_rt.training.tokenizer import EncodedExample

METRICS_PREFIX = "tunixrt"
FINAL_LR_FRACTION = 0.1


@dataclass
class TrainOutcome:
    start_step: int
    final_step: int
    stopped: bool
    wall_s: float


# Where a worker points its children's JAX compilation cache (runs/materialize.py sets it).
JAX_CACHE_ENV = "TUNIX_RT_JAX_CACHE_DIR"


def configure_jax_for(spec: Spec) -> None:
    """The compilation cache of the spec, else the worker's (JAX_CACHE_ENV), else none."""
    configure_jax(spec.jax_cache_dir or os.environ.get(JAX_CACHE_ENV) or None)


def configure_jax(cache_dir: str | None) -> None:
    import jax

    config: Any = jax.config
    if cache_dir:
        config.update("jax_compilation_cache_dir", cache_dir)
        # Cache every compile, even the small fast ones of a tiny model.
        config.update("jax_persistent_cache_min_compile_time_secs", 0)
        config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def build_optimizer(spec: Spec, total_steps: int) -> Any:
    import optax

    hp = spec.hyperparameters
    warmup = int(hp.warmup_fraction * total_steps)
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0 if warmup else hp.learning_rate,
        peak_value=hp.learning_rate,
        warmup_steps=warmup,
        decay_steps=max(total_steps, warmup + 1),
        end_value=hp.learning_rate * FINAL_LR_FRACTION,
    )
    # inject_hyperparams lets the trainer read the current learning rate for its metrics.
    optimizer = optax.inject_hyperparams(optax.adamw)(
        learning_rate=schedule, weight_decay=hp.weight_decay
    )
    # bfloat16 parameters: AdamW's moments and a master copy stay float32 (precision.py).
    return precision.float32_master(optimizer) if precision.is_reduced(spec) else optimizer


def is_checkpoint_step(step: int, last_saved: int | None, *, every: int) -> bool:
    return step % every == 0


def checkpoint_options(save_every_steps: int) -> Any:
    """Orbax saves every save_every_steps steps (plus the final one, which train() forces)
    and keeps them all: which to delete (latest K, the best, pinned ones) is the worker's
    decision (runs/retention.py), which also deletes them while this process trains."""
    import orbax.checkpoint as ocp

    return ocp.CheckpointManagerOptions(
        # Every save_every_steps and nothing else: Orbax's default policy also saves the
        # first step, a useless checkpoint.
        should_save_fn=partial(is_checkpoint_step, every=save_every_steps),
        max_to_keep=None,
        # Synchronous saves: a checkpoint event is only sent once the step is committed.
        enable_async_checkpointing=False,
    )


def committed_steps(spec: Spec) -> list[int]:
    """Steps whose checkpoint Orbax has committed (uncommitted ones carry a tmp suffix)."""
    root = spec.checkpoints_dir
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())


class StepClock:
    """When each update started (keyed by the step it produces) and when training ended.

    Dispatch is asynchronous but Tunix throttles it to two steps in flight, so the
    distance between consecutive starts is the step time in the steady state.
    """

    def __init__(self) -> None:
        self.starts: dict[int, float] = {}
        self.end: float | None = None

    def step_seconds(self, step: int) -> float | None:
        start = self.starts.get(step)
        stop = self.starts.get(step + 1, self.end)
        if start is None or stop is None or stop <= start:
            return None
        return stop - start


class MetricsBackend:
    """Collects one step's scalars and emits them as a single metric event."""

    def __init__(
        self, events: EventChannel, plan: BatchPlan, tokens_per_step: list[int], clock: StepClock
    ) -> None:
        self._events = events
        self._plan = plan
        self._tokens = tokens_per_step
        self._clock = clock
        self._pending: dict[int, dict[str, float]] = {}

    def log_scalar(self, event: str, value: Any, **kwargs: Any) -> None:
        parts = event.split("/")
        if len(parts) != 3 or parts[0] != METRICS_PREFIX or parts[1] != "train":
            return
        step = int(kwargs.get("step", 0))
        for earlier in sorted(s for s in self._pending if s < step):
            self._flush(earlier)
        self._pending.setdefault(step, {})[parts[2]] = float(value)

    def _flush(self, step: int) -> None:
        values = self._pending.pop(step)
        elapsed = self._clock.step_seconds(step)
        # Tunix numbers steps from 1; batch step-1 was consumed for this update.
        if 0 < step <= len(self._tokens) and elapsed:
            values["tokens_per_s"] = self._tokens[step - 1] / elapsed
        self._events.emit("metric", step=step, values=values)
        every = max(1, self._plan.total_steps // 100)
        if step % every == 0 or step == self._plan.total_steps or step == 1:
            loss = values.get("loss", math.nan)
            lr = values.get("learning_rate", math.nan)
            print(f"step {step}/{self._plan.total_steps} loss {loss:.4f} lr {lr:.2e}", flush=True)

    def close(self) -> None:
        for step in sorted(self._pending):
            self._flush(step)


class ProgressHooks:
    """TrainingHooks: phase events and checkpoint announcements after Orbax commits.

    on_train_step_end fires one step late; checkpoints are looked up on disk, so lateness
    only delays an announcement, never invents one.
    """

    def __init__(
        self,
        spec: Spec,
        events: EventChannel,
        plan: BatchPlan,
        clock: StepClock,
        on_step_end: Callable[[int], None] | None = None,
    ):
        self._spec = spec
        self._on_step_end = on_step_end
        self._clock = clock
        self._events = events
        self._plan = plan
        existing = committed_steps(spec)
        self.announced = existing[-1] if existing else 0
        self._steps_started = 0
        self.start_step = 0

    def announce_checkpoints(self) -> None:
        for step in committed_steps(self._spec):
            if step > self.announced:
                self._events.emit("checkpoint", step=step, path=f"checkpoints/{step}")
                self.announced = step

    def on_train_start(self, trainer: Any) -> None:
        self._events.phase("compile", max_steps=self._plan.total_steps)

    def on_train_step_start(self, trainer: Any) -> None:
        self._clock.starts[trainer.train_steps + 1] = time.perf_counter()
        # The first step compiles synchronously, so the second start means "compiled".
        self._steps_started += 1
        if self._steps_started == 2:
            self._events.phase(
                "train", max_steps=self._plan.total_steps, start_step=self.start_step
            )

    def on_train_step_end(self, trainer: Any, train_step: int, train_loss: Any) -> None:
        self.announce_checkpoints()
        if self._on_step_end is not None:
            # trainer.train_steps: the steps completed so far (this hook fires a step late).
            self._on_step_end(int(trainer.train_steps))

    def on_train_end(self, trainer: Any) -> None:
        self._clock.end = time.perf_counter()

    def on_eval_step_start(self, trainer: Any) -> None:
        pass

    def on_eval_step_end(self, trainer: Any, eval_loss: Any) -> None:
        pass


def make_model_input_fn(pad_id: int = PAD_ID) -> Any:
    from tunix.sft import utils

    def gen_model_input(x: Any) -> dict[str, Any]:
        padding = x.input_tokens != pad_id
        return {
            "input_tokens": x.input_tokens,
            "input_mask": x.input_mask,
            "positions": utils.build_positions_from_mask(padding),
            "attention_mask": utils.make_causal_attn_mask(padding),
        }

    return gen_model_input


def run_training(
    spec: Spec,
    built: BuiltModel,
    encoded: list[EncodedExample],
    plan: BatchPlan,
    events: EventChannel,
    stop: StopSignal,
    on_step_end: Callable[[int], None] | None = None,
    mesh: Any | None = None,
) -> TrainOutcome:
    """Train under mesh (devices.make_mesh; None: one device) with the model already
    placed on it (devices.shard_model)."""
    with devices.active(mesh):
        return _run_training(
            spec, built, encoded, plan, events, stop, on_step_end, single_device=mesh is None
        )


def commit_train_state(trainer: Any) -> None:
    """Without a mesh Tunix leaves some of the train step's arguments uncommitted (the
    optimizer's scalars: step count, injected hyperparameters; qwix's new LoRA weights),
    and the first step returns them committed, so the train step compiled twice
    (PeftTrainer._shard_optimizer places them only under a mesh). Committed to the default
    device beforehand, step 2 reuses step 1's compile."""
    import jax
    from flax import nnx

    device = jax.devices()[0]
    nnx.update(trainer.model, jax.device_put(nnx.state(trainer.model), device))
    state = nnx.state(trainer.optimizer, nnx.optimizer.OptState)
    nnx.update(trainer.optimizer, jax.device_put(state, device))


def _run_training(
    spec: Spec,
    built: BuiltModel,
    encoded: list[EncodedExample],
    plan: BatchPlan,
    events: EventChannel,
    stop: StopSignal,
    on_step_end: Callable[[int], None] | None,
    *,
    single_device: bool,
) -> TrainOutcome:
    from tunix.sft import metrics_logger, peft_trainer

    hp = spec.hyperparameters
    tokens_per_step: list[int] = []
    clock = StepClock()
    backend = MetricsBackend(events, plan, tokens_per_step, clock)
    config = peft_trainer.TrainingConfig(
        eval_every_n_steps=plan.total_steps + 1,
        max_steps=plan.total_steps,
        checkpoint_root_directory=str(spec.checkpoints_dir),
        checkpointing_options=checkpoint_options(hp.save_every_steps),
        metrics_logging_options=metrics_logger.MetricsLoggerOptions(
            log_dir=str(spec.root / "logs"), backend_kwargs={"custom_backend": [lambda: backend]}
        ),
        metrics_prefix=METRICS_PREFIX,
        pbar_description=None,
    )
    trainer = peft_trainer.PeftTrainer(built.model, build_optimizer(spec, plan.total_steps), config)
    trainer = trainer.with_gen_model_input_fn(make_model_input_fn(plan.pad_id))
    if precision.is_reduced(spec):
        trainer = trainer.with_loss_fn(precision.float32_loss_fn)
    progress = ProgressHooks(spec, events, plan, clock, on_step_end)
    trainer.with_training_hooks(progress)
    start_step = progress.start_step = trainer.train_steps
    if single_device:
        commit_train_state(trainer)
    if start_step:
        print(f"resuming from checkpoint at step {start_step}", flush=True)

    def batches() -> Any:
        for tokens, mask in iter_batches(encoded, plan, stop, tokens_per_step):
            yield peft_trainer.TrainingInput(input_tokens=tokens, input_mask=mask)

    started = time.perf_counter()
    trainer.train(batches())
    progress.announce_checkpoints()
    return TrainOutcome(
        start_step=start_step,
        final_step=trainer.train_steps,
        stopped=stop.requested,
        wall_s=time.perf_counter() - started,
    )
