"""GRPO pieces that need no Tunix: the spec's rules, prompt order and rollout steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunix_rt.training import data, tokenizer
from tunix_rt.training.grpo_data import Prompt, iter_prompt_batches, load_prompts, step_seed
from tunix_rt.training.grpo_rollouts import (
    StepMetrics,
    StepRewards,
    is_rollout_step,
    reward_stats,
    rollout_path,
)
from tunix_rt.training.rewards import RewardWeights, reward_of
from tunix_rt.training.spec import SpecError, parse_spec
from tunix_rt.training.synthetic import sft_records


class Stop:
    def __init__(self) -> None:
        self.requested = False


def test_spec_grpo_needs_its_section_and_checks_bounds() -> None:
    with pytest.raises(SpecError, match="algorithm grpo with task train needs grpo"):
        parse_spec({"run_dir": "/r", "algorithm": "grpo"})
    with pytest.raises(SpecError, match=r"grpo\.num_generations"):
        parse_spec({"run_dir": "/r", "algorithm": "grpo", "grpo": {"num_generations": 1}})
    with pytest.raises(SpecError, match=r"init\.step"):
        parse_spec({"run_dir": "/r", "algorithm": "grpo", "grpo": {}, "init": {}})
    spec = parse_spec(
        {"run_dir": "/r", "algorithm": "grpo", "grpo": {"beta": 0}, "init": {"step": 300}}
    )
    assert spec.grpo is not None and spec.grpo.num_generations == 4 and spec.grpo.beta == 0
    assert spec.init is not None and spec.init.checkpoint_dir == "init/checkpoints"
    # SFT may start from a checkpoint too; an SFT spec without grpo stays valid.
    assert parse_spec({"run_dir": "/r", "init": {"step": 1}}).algorithm == "sft"


def prompts(n: int) -> list[Prompt]:
    return [Prompt(text=f"<p{i}>", user_prompt=f"p{i}", expected=str(i % 3)) for i in range(n)]


def test_prompt_batches_depend_only_on_seed_and_carry_their_answers() -> None:
    seen: list[int] = []
    first = list(
        iter_prompt_batches(prompts(5), 3, 4, seed=7, stop=Stop(), before_step=seen.append)
    )
    again = list(iter_prompt_batches(prompts(5), 3, 4, seed=7, stop=Stop()))
    other = list(iter_prompt_batches(prompts(5), 3, 4, seed=8, stop=Stop()))
    assert seen == [1, 2, 3, 4]
    assert [b["prompts"].tolist() for b in first] == [b["prompts"].tolist() for b in again]
    assert [b["prompts"].tolist() for b in first] != [b["prompts"].tolist() for b in other]
    for step, batch in enumerate(first, start=1):
        assert batch["batch_step"].tolist() == [step] * 3
        for index, text, expected in zip(
            batch["example_index"], batch["prompts"], batch["expected"], strict=True
        ):
            assert text == f"<p{index}>" and expected == str(index % 3)
    # An epoch is a permutation: the first 5 prompts drawn are all different.
    drawn = [i for b in first for i in b["example_index"].tolist()][:5]
    assert sorted(drawn) == [0, 1, 2, 3, 4]
    assert step_seed(7, 1) == step_seed(7, 1) != step_seed(7, 2)


def test_prompt_batches_end_on_a_step_boundary_once_stopped() -> None:
    stop = Stop()
    batches = iter_prompt_batches(prompts(4), 2, 10, seed=0, stop=stop)
    next(batches)
    stop.requested = True
    assert list(batches) == []


def test_rollout_steps_and_paths() -> None:
    assert [s for s in range(1, 31) if is_rollout_step(s, 10)] == [1, 10, 20, 30]
    assert rollout_path(10) == "rollouts/step-00000010.jsonl"


class Events:
    def __init__(self) -> None:
        self.emitted: list[dict[str, object]] = []

    def emit(self, event: str, **fields: object) -> None:
        self.emitted.append({"event": event, **fields})


def test_step_metrics_merge_rewards_with_tunix_metrics_of_the_same_step() -> None:
    weights = RewardWeights(length_penalty=1.0, max_new_tokens=10)
    right = reward_of("Answer: A", "A", 5, weights)
    wrong = reward_of("no answer", "A", 10, weights)
    scored = StepRewards(step=1, rewards=[right, wrong], lengths=[5, 10])
    stats = reward_stats(scored)
    assert stats["reward/mean"] == pytest.approx((1.2 - 0.5 + 0 - 1.0) / 2)
    assert stats["reward/correct/mean"] == 0.5 and stats["completion_length/mean"] == 7.5

    events = Events()
    metrics = StepMetrics(events, total_steps=3)  # type: ignore[arg-type]
    metrics.add_rewards(scored)
    metrics.log_scalar("actor/train/loss", 0.25, step=1)
    metrics.log_scalar("actor/train/perplexity", 9.0, step=1)  # not a GRPO metric
    metrics.log_scalar("rewards/train/score/mean", 3.0, step=0)  # Tunix's own, lagging
    metrics.add_rewards(StepRewards(step=2, rewards=[right], lengths=[5]))
    assert events.emitted == []
    metrics.log_scalar("actor/train/loss", 0.5, step=2)  # a later step: step 1 is complete
    assert [e["step"] for e in events.emitted] == [1]
    assert events.emitted[0]["values"] == {**stats, "loss": 0.25}
    metrics.add_rewards(StepRewards(step=3, rewards=[right], lengths=[5]))  # sampled, untrained
    metrics.close(final_step=2)
    assert [e["step"] for e in events.emitted] == [1, 2]


def test_prompts_are_the_examples_prompt_part_with_their_expected_answer(
    tmp_path: Path,
) -> None:
    records = sft_records("high_card_duel", 20, 0, "train")
    examples = [data.parse_record(r, f"train.jsonl:{n}") for n, r in enumerate(records, 1)]
    tok = tokenizer.train_tokenizer(examples, 320, tmp_path / "tokenizer.model")
    loaded = load_prompts(tok, examples)
    for prompt, record in zip(loaded, records, strict=True):
        head, answer = record["prompts"].split("<start_of_turn>model\n")
        assert prompt.text == head + "<start_of_turn>model\n"  # what the sampler gets
        assert prompt.expected == record["final_answer"]
        assert answer.endswith(f"Answer: {prompt.expected}<end_of_turn>")
        assert prompt.user_prompt in head and "<start_of_turn>" not in prompt.user_prompt


def test_grpo_refuses_a_mesh_before_loading_anything(tmp_path: Path) -> None:
    from tunix_rt.training import grpo
    from tunix_rt.training.events import EventChannel
    from tunix_rt.training.presets import ModelError
    from tunix_rt.training.stop import StopSignal

    spec = parse_spec(
        {
            "run_dir": str(tmp_path),
            "algorithm": "grpo",
            "grpo": {},
            "hyperparameters": {"batch_size": 4, "mesh": {"data": 2, "model": 1}},
        }
    )
    events = EventChannel(tmp_path, fd=None)
    try:
        with pytest.raises(ModelError, match="GRPO runs on one device"):
            grpo.run_grpo(spec, events, StopSignal())
    finally:
        events.close()
