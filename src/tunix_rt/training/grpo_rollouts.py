"""GRPO rewards, per-step metrics and rollout files, as Tunix's learner calls them.

Tunix calls the reward function and then the metric functions on the same completions of
one step (the batch's fields, repeated num_generations times, come along as keyword
arguments: `step`, `expected`...). The reward function returns rewards.py's total; the
metric function sees the advantages too, so it records the step's reward statistics and,
every grpo.rollout_every_steps steps and at step 1, writes the completions of the first
grpo.rollout_prompts prompts to rollouts/step-<step:08d>.jsonl and sends a `rollouts` event.

Tunix's own training metrics (loss, kl, pg_clipfrac, grad_norm, learning_rate) reach a
metrics backend (a process-global jax.monitoring listener: filtered on "actor/train/"),
and each step's values go out as one metric event, as in SFT.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunix_rt.training.events import EventChannel
from tunix_rt.training.rewards import Reward, RewardWeights, reward_of
from tunix_rt.training.spec import GRPOSpec
from tunix_rt.training.tokenizer import Tokenizer

ROLLOUTS_DIR = "rollouts"
ACTOR_PREFIX = "actor/train/"
# Tunix's training metrics that mean something for GRPO (its perplexity is of the loss).
ACTOR_METRICS = {"loss", "kl", "pg_clipfrac", "entropy", "grad_norm", "learning_rate"}


def weights_of(grpo: GRPOSpec) -> RewardWeights:
    return RewardWeights(
        correct=grpo.reward_correct,
        format=grpo.reward_format,
        length_penalty=grpo.length_penalty,
        max_new_tokens=grpo.max_new_tokens,
    )


def rollout_path(step: int) -> str:
    return f"{ROLLOUTS_DIR}/step-{step:08d}.jsonl"


def is_rollout_step(step: int, every: int) -> bool:
    return step == 1 or step % every == 0


@dataclass
class StepRewards:
    """The completions of one step with their rewards (in Tunix's order: prompt-major)."""

    step: int
    rewards: list[Reward] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)


class Rewarder:
    """The reward function and the metric function given to GRPOLearner."""

    def __init__(
        self,
        spec_grpo: GRPOSpec,
        tokenizer: Tokenizer,
        events: EventChannel,
        run_dir: Path,
        metrics: StepMetrics,
    ) -> None:
        self._grpo = spec_grpo
        self._weights = weights_of(spec_grpo)
        self._tokenizer = tokenizer
        self._events = events
        self._run_dir = run_dir
        self._metrics = metrics
        self.__name__ = "tunix_rt_reward"

    def completion_tokens(self, completion: str) -> int:
        """The completion's length in tokens (its text encoded again by the run's tokenizer)."""
        return min(len(self._tokenizer.encode(completion)), self._grpo.max_new_tokens)

    def score(self, completions: list[str], expected: Any) -> StepRewards:
        scored = StepRewards(step=0)
        for completion, answer in zip(completions, list(expected), strict=True):
            length = self.completion_tokens(completion)
            scored.lengths.append(length)
            scored.rewards.append(reward_of(completion, str(answer), length, self._weights))
        return scored

    def __call__(self, prompts: list[str], completions: list[str], **kwargs: Any) -> list[float]:
        return [r.total for r in self.score(completions, kwargs["expected"]).rewards]

    def metric_fn(
        self,
        prompts: list[str],
        completions: list[str],
        rewards: Any,
        advantages: Any,
        **kwargs: Any,
    ) -> dict[str, tuple[Any, Any]]:
        if kwargs.get("mode", "train") != "train":
            return {}
        scored = self.score(completions, kwargs["expected"])
        scored.step = step = int(np.asarray(kwargs["batch_step"])[0])
        self._metrics.add_rewards(scored)
        if is_rollout_step(step, self._grpo.rollout_every_steps):
            advantage = [float(a) for a in np.asarray(advantages, dtype=float)]
            self.write_rollouts(scored, completions, kwargs, advantage)
        return {}

    def write_rollouts(
        self,
        scored: StepRewards,
        completions: list[str],
        batch: dict[str, Any],
        advantages: list[float],
    ) -> None:
        generations = self._grpo.num_generations
        count = min(len(scored.rewards), self._grpo.rollout_prompts * generations)
        lines = []
        for n in range(count):
            reward = scored.rewards[n]
            lines.append(
                json.dumps(
                    {
                        "step": scored.step,
                        "prompt_index": n // generations,
                        "generation": n % generations,
                        "prompt": str(batch["user_prompt"][n]),
                        "expected": str(batch["expected"][n]),
                        "completion": completions[n],
                        "answer": reward.answer,
                        "correct": reward.correct,
                        "format_ok": reward.format_ok,
                        "rewards": reward.parts,
                        "reward": reward.total,
                        "advantage": advantages[n],
                    }
                )
            )
        relative = rollout_path(scored.step)
        target = self._run_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        tmp.replace(target)
        self._events.emit("rollouts", step=scored.step, path=relative, count=count)


def reward_stats(scored: StepRewards) -> dict[str, float]:
    totals = np.array([r.total for r in scored.rewards], dtype=float)

    def mean_of(part: str) -> float:
        return float(np.mean([r.parts[part] for r in scored.rewards]))

    return {
        "reward/mean": float(totals.mean()),
        "reward/std": float(totals.std()),
        "reward/correct/mean": mean_of("correct"),
        "reward/format/mean": mean_of("format"),
        "reward/length/mean": mean_of("length"),
        "completion_length/mean": float(np.mean(scored.lengths)),
        "accuracy": float(np.mean([r.correct for r in scored.rewards])),
    }


class StepMetrics:
    """One metric event per step: the step's reward statistics (known at rollout time)
    merged with Tunix's training metrics of the update that followed."""

    def __init__(self, events: EventChannel, total_steps: int) -> None:
        self._events = events
        self._total_steps = total_steps
        self._pending: dict[int, dict[str, float]] = {}
        self.last_flushed = 0

    def add_rewards(self, scored: StepRewards) -> None:
        self._pending.setdefault(scored.step, {}).update(reward_stats(scored))

    def log_scalar(self, event: str, value: Any, **kwargs: Any) -> None:
        if not event.startswith(ACTOR_PREFIX):
            return
        name = event[len(ACTOR_PREFIX) :]
        if name not in ACTOR_METRICS:
            return
        step = int(kwargs.get("step", 0))
        for earlier in sorted(s for s in self._pending if s < step):
            self._flush(earlier)
        self._pending.setdefault(step, {})[name] = float(np.asarray(value))

    def _flush(self, step: int) -> None:
        values = self._pending.pop(step)
        self._events.emit("metric", step=step, values=values)
        self.last_flushed = max(self.last_flushed, step)
        every = max(1, self._total_steps // 100)
        if step % every == 0 or step in (1, self._total_steps):
            print(
                f"step {step}/{self._total_steps} loss {values.get('loss', math.nan):.4f} "
                f"reward {values.get('reward/mean', math.nan):.3f} "
                f"correct {values.get('reward/correct/mean', math.nan):.3f}",
                flush=True,
            )

    def close(self, final_step: int | None = None) -> None:
        """Flushes every step up to final_step (all when None); rewards of a step that was
        sampled but never trained (a stop between rollout and update) are dropped."""
        for step in sorted(self._pending):
            if final_step is None or step <= final_step:
                self._flush(step)
        self._pending.clear()
