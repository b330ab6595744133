"""Algorithm "grpo": Tunix's GRPOLearner on an RLCluster with the vanilla rollout engine.

The policy is built exactly as the source (SFT) run built it (spec.model, tokenizer and
LoRA shape are the source run's) and spec.init's checkpoint is restored into it (only the
LoRA parameters for a LoRA run); the reference policy of the KL term is a copy of that
initial model. Each step samples grpo.num_generations completions of hyperparameters.
batch_size training prompts (training/grpo_data.py), rewards them with the one scorer
(rewards.py) and updates the policy; metrics, rollout files and checkpoints go out as
events (grpo_rollouts.py), and the finished run is evaluated on the holdout like SFT.

Checkpoints: Tunix's actor trainer writes under <root>/actor; that directory is a link to
run_dir/checkpoints, so GRPO checkpoints sit where SFT's do (evaluation and export jobs,
retention and resume find them there). A rerun resumes from the latest one.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from tunix_rt.training import data, environment, evaluate, presets, sft, tokenizer
from tunix_rt.training.batches import plan_total_steps
from tunix_rt.training.eval_job import restore_checkpoint
from tunix_rt.training.events import EventChannel
from tunix_rt.training.grpo_data import (
    iter_prompt_batches,
    load_prompts,
    longest_prompt,
    step_seed,
)
from tunix_rt.training.grpo_rollouts import Rewarder, StepMetrics
from tunix_rt.training.spec import GRPOSpec, Spec
from tunix_rt.training.stop import StopSignal

TRAINER_ROOT = ".grpo"  # Tunix appends "actor": .grpo/actor -> ../checkpoints
# Tunix's aux values of the GRPO loss that are logged per step (besides loss, grad_norm...).
LOGGED_AUX = ("kl", "pg_clipfrac", "entropy")


def restore_init(spec: Spec, built: presets.BuiltModel) -> int:
    """The source run's checkpoint spec.init, restored into the freshly built model."""
    assert spec.init is not None
    root = spec.resolve(spec.init.checkpoint_dir)
    restore_checkpoint(spec, built, spec.init.step, root, "init checkpoint")
    return spec.init.step


def link_checkpoints(spec: Spec) -> Path:
    """The trainer root whose "actor" directory is run_dir/checkpoints."""
    root = spec.root / TRAINER_ROOT
    root.mkdir(parents=True, exist_ok=True)
    spec.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    link = root / "actor"
    if not link.is_symlink():
        link.symlink_to(Path("..") / spec.checkpoints_dir.name, target_is_directory=True)
    return root


class CheckpointAnnouncer:
    """A checkpoint event for each step Orbax has committed under checkpoints/ (as SFT)."""

    def __init__(self, spec: Spec, events: EventChannel) -> None:
        self._spec = spec
        self._events = events
        existing = sft.committed_steps(spec)
        self.announced = existing[-1] if existing else 0

    def __call__(self) -> None:
        for step in sft.committed_steps(self._spec):
            if step > self.announced:
                self._events.emit("checkpoint", step=step, path=f"checkpoints/{step}")
                self.announced = step


def rollout_config(grpo: GRPOSpec, prompt_length: int, stops: list[int]) -> Any:
    from tunix.rl.rollout import base_rollout

    return base_rollout.RolloutConfig(
        max_tokens_to_generate=grpo.max_new_tokens,
        max_prompt_length=prompt_length,
        kv_cache_size=prompt_length + grpo.max_new_tokens + 1,
        temperature=grpo.temperature,
        top_p=1.0,
        top_k=None,
        eos_tokens=stops,
    )


def build_learner(
    spec: Spec,
    built: presets.BuiltModel,
    tok: tokenizer.Tokenizer,
    rollout: Any,
    total_steps: int,
    rewarder: Rewarder,
    metrics: StepMetrics,
    mesh: Any,
) -> Any:
    from flax import nnx
    from tunix.rl import rl_cluster as rl
    from tunix.rl.grpo import grpo_learner
    from tunix.sft import metrics_logger

    grpo = spec.grpo
    assert grpo is not None
    hp = spec.hyperparameters
    training = rl.RLTrainingConfig(
        actor_optimizer=sft.build_optimizer(spec, total_steps),
        eval_every_n_steps=total_steps + 1,
        max_steps=total_steps,
        checkpoint_root_directory=str(link_checkpoints(spec)),
        checkpointing_options=sft.checkpoint_options(hp.save_every_steps),
        metrics_logging_options=metrics_logger.MetricsLoggerOptions(
            log_dir=str(spec.root / "logs"), backend_kwargs={"custom_backend": [lambda: metrics]}
        ),
        pbar_description=None,
    )
    # The reference policy: the initial model, frozen (no KL term, no reference).
    reference = nnx.clone(built.model) if grpo.beta > 0 else None
    cluster = rl.RLCluster(
        actor=built.model,
        reference=reference,
        tokenizer=tokenizer.SamplerTokenizer(tok),
        cluster_config=rl.ClusterConfig(
            role_to_mesh={
                role: mesh for role in (rl.Role.ACTOR, rl.Role.REFERENCE, rl.Role.ROLLOUT)
            },
            rollout_engine="vanilla",
            offload_to_cpu=False,
            training_config=training,
            rollout_config=rollout,
        ),
    )
    learner = grpo_learner.GRPOLearner(
        rl_cluster=cluster,
        algo_config=grpo_learner.GRPOConfig(
            num_generations=grpo.num_generations,
            num_iterations=grpo.num_iterations,
            beta=grpo.beta,
            epsilon=grpo.epsilon,
        ),
        reward_fns=[rewarder],
        metric_fns=[rewarder.metric_fn],
    )
    cluster.actor_trainer.with_rl_metrics_to_log({name: np.mean for name in LOGGED_AUX})
    return learner


def resolve_tokenizer(spec: Spec) -> Spec:
    """A relative tokenizer path (the worker links the source run's tokenizer as
    init/tokenizer.model) is relative to run_dir, like every path of a spec."""
    path = getattr(spec.tokenizer, "path", None)
    if path is None or Path(path).is_absolute():
        return spec
    resolved = spec.tokenizer.model_copy(update={"path": str(spec.resolve(path))})
    return spec.model_copy(update={"tokenizer": resolved})


def run_grpo(spec: Spec, events: EventChannel, stop: StopSignal) -> bool:
    """Trains, then evaluates on the holdout; True when stopped gracefully (a final
    checkpoint written, an error event sent, no evaluation)."""
    mesh_spec = spec.hyperparameters.mesh
    if mesh_spec is not None and mesh_spec.data * mesh_spec.model > 1:
        raise presets.ModelError(
            "GRPO runs on one device: hyperparameters.mesh is not supported with algorithm grpo"
        )
    environment.require_stack()
    spec = resolve_tokenizer(spec)
    import jax
    from tunix.rl import rl_cluster as rl
    from tunix.utils import mesh as mesh_lib

    grpo = spec.grpo
    assert grpo is not None
    hp = spec.hyperparameters
    train = data.load_examples(spec.resolve(spec.dataset.train_path))
    if not train:
        raise data.DatasetError(f"{spec.dataset.train_path} has no examples")
    holdout = (
        data.load_examples(spec.resolve(spec.dataset.holdout_path))
        if spec.dataset.holdout_path
        else []
    )
    eval_examples = holdout[: spec.evaluation.max_examples]
    subset = holdout[: spec.evaluation.subset_size] if spec.evaluation.during_training else []
    events.phase("tokenize")
    tok = tokenizer.prepare_tokenizer(spec, train)
    tokenizer.check_vocab(spec, tok)
    prompts = load_prompts(tok, train)
    prompt_length = evaluate.next_power_of_2(longest_prompt(tok, prompts))
    eval_length = evaluate.plan_prompt_length(
        tok, eval_examples if len(eval_examples) >= len(subset) else subset
    )
    total_steps = plan_total_steps(hp.max_steps, hp.num_epochs, len(train), hp.batch_size)
    sft.configure_jax_for(spec)
    context = max(
        hp.max_seq_length,
        prompt_length + grpo.max_new_tokens + 1,
        eval_length + spec.evaluation.max_new_tokens + 1,
    )
    events.phase("load")
    built = presets.build_model(spec, tok.vocab_size, context)
    init_step = restore_init(spec, built) if spec.init is not None else None
    print(
        f"model {built.param_count:,} parameters{' (LoRA)' if built.lora else ''}"
        f"{f' from init checkpoint {init_step}' if init_step is not None else ''}, "
        f"{len(prompts)} prompts x {grpo.num_generations} generations, batch "
        f"{hp.batch_size}, {total_steps} steps",
        flush=True,
    )
    base_rollout = rollout_config(grpo, prompt_length, tokenizer.stop_token_ids(tok))
    rollouts = {rl.Mode.TRAIN: base_rollout}
    metrics = StepMetrics(events, total_steps)
    rewarder = Rewarder(grpo, tok, events, spec.root, metrics)
    announce = CheckpointAnnouncer(spec, events)

    mid_eval: list[evaluate.MidTrainingEval] = []
    start_step = 0

    def before_step(step: int) -> None:
        # The step's own sampling seed, the checkpoints committed by the last update and
        # the evaluations during training due after it (not for steps a resume skips).
        seed = jax.random.PRNGKey(step_seed(hp.seed, step))
        rollouts[rl.Mode.TRAIN] = dataclasses.replace(base_rollout, seed=seed)
        announce()
        if mid_eval and step - 1 > start_step:
            mid_eval[0].maybe_run(step - 1)

    mesh = mesh_lib.create_mesh((1, 1), ("fsdp", "tp"), devices=jax.devices()[:1])
    with mesh:
        learner = build_learner(spec, built, tok, rollouts, total_steps, rewarder, metrics, mesh)
        actor = learner.rl_cluster.actor_trainer
        start_step = actor.train_steps
        if start_step:
            print(f"resuming from checkpoint at step {start_step}", flush=True)
        if subset:
            mid_eval.append(
                evaluate.MidTrainingEval(
                    dataclasses.replace(built, model=actor.model),
                    tok,
                    subset,
                    spec.evaluation.every_steps,
                    spec.evaluation.max_new_tokens,
                    events,
                    checkpoint_every=hp.save_every_steps
                    if spec.evaluation.at_checkpoints
                    else None,
                    final_step=total_steps,
                )
            )
        events.phase("train", max_steps=total_steps, start_step=start_step)
        started = time.perf_counter()
        batches = iter_prompt_batches(
            prompts, hp.batch_size, total_steps, hp.seed, stop, before_step
        )
        if start_step < total_steps:
            learner.train(batches)
        final_step = actor.train_steps
        metrics.close(final_step)
        announce()
        wall_s = time.perf_counter() - started
        if stop.requested:
            print(f"stopped ({stop.reason}) at step {final_step}", flush=True)
            events.error(f"stopped by {stop.reason} at step {final_step}")
            return True
        print(f"trained steps {start_step}..{final_step} in {wall_s:.1f}s", flush=True)
        if mid_eval and final_step > start_step:
            mid_eval[0].maybe_run(final_step)
        events.phase("evaluate")
        trained = dataclasses.replace(built, model=actor.model)
        evaluate.evaluate_run(spec, trained, tok, eval_examples, events, final_step)
    events.phase("done")
    return False
