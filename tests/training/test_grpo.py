"""GRPO through the child program, real Tunix on CPU: a tiny SFT run is the source, its
checkpoint and tokenizer are linked as the worker links them, and a few GRPO steps run
from it. Learning is not asserted (a few steps of a tiny model): the mechanics are."""

from __future__ import annotations

import json
import math
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.training.conftest import run_child, start_child, wait_for_event
from tests.training.datasets import read_events, write_dataset, write_spec
from tunix_rt.training.rewards import RewardWeights, reward_of
from tunix_rt.training.tokenizer import load_tokenizer

pytestmark = [pytest.mark.slow, pytest.mark.training]

SOURCE_STEPS = 30
GRPO = {
    "num_generations": 4,
    "max_new_tokens": 24,
    "rollout_every_steps": 2,
    "rollout_prompts": 2,
    "beta": 0.04,
    "length_penalty": 0.1,
}
GRPO_HP = {"max_steps": 6, "batch_size": 2, "save_every_steps": 2, "learning_rate": 1e-4}
CONTRACT_METRICS = (
    "reward/mean",
    "reward/std",
    "reward/correct/mean",
    "reward/format/mean",
    "reward/length/mean",
    "kl",
    "completion_length/mean",
    "loss",
)


@pytest.fixture(scope="module")
def source_run(tmp_path_factory: pytest.TempPathFactory, jax_cache_dir: str) -> Path:
    """A partially trained tiny SFT run (its only checkpoint at SOURCE_STEPS)."""
    run_dir = tmp_path_factory.mktemp("grpo") / "source"
    write_dataset(run_dir, "high_card_duel", train_count=200, holdout_count=8, seed=5)
    write_spec(
        run_dir,
        hyperparameters={
            "max_steps": SOURCE_STEPS,
            "batch_size": 8,
            "save_every_steps": SOURCE_STEPS,
            "seed": 5,
        },
        evaluation={"max_examples": 0},
        jax_cache_dir=jax_cache_dir,
    )
    result = run_child(run_dir / "spec.json")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def grpo_run(source: Path, name: str, jax_cache_dir: str) -> Path:
    """A GRPO attempt dir as the worker makes it: the source checkpoint and tokenizer
    linked under init/, the dataset exported, the source run's model in the spec."""
    run_dir = source.parent / name
    (run_dir / "init" / "checkpoints").mkdir(parents=True)
    step = SOURCE_STEPS
    (run_dir / "init" / "checkpoints" / str(step)).symlink_to(source / "checkpoints" / str(step))
    (run_dir / "init" / "tokenizer.model").symlink_to(source / "tokenizer.model")
    (run_dir / "data").symlink_to(source / "data")
    path = write_spec(
        run_dir,
        algorithm="grpo",
        tokenizer={"kind": "file", "path": "init/tokenizer.model"},
        hyperparameters={**GRPO_HP, "seed": 5},
        evaluation={"max_examples": 8, "max_new_tokens": 32, "every_steps": 3, "subset_size": 8},
        jax_cache_dir=jax_cache_dir,
    )
    spec = json.loads(path.read_text())
    spec["grpo"] = GRPO
    spec["init"] = {"checkpoint_dir": "init/checkpoints", "step": step, "source_run_id": "src"}
    path.write_text(json.dumps(spec))
    return run_dir


def metrics_by_step(run_dir: Path) -> dict[int, dict[str, Any]]:
    """Every metric event's values by step (training and evaluation events merged)."""
    merged: dict[int, dict[str, Any]] = {}
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        merged.setdefault(event["step"], {}).update(event["values"])
    return merged


@pytest.fixture(scope="module")
def finished(source_run: Path, jax_cache_dir: str) -> Path:
    run_dir = grpo_run(source_run, "grpo", jax_cache_dir)
    result = run_child(run_dir / "spec.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"from init checkpoint {SOURCE_STEPS}" in result.stdout
    return run_dir


def test_metrics_every_step_with_the_contract_names(finished: Path) -> None:
    metrics = metrics_by_step(finished)
    assert sorted(metrics) == list(range(1, GRPO_HP["max_steps"] + 1))
    for step, values in metrics.items():
        for name in (*CONTRACT_METRICS, "entropy", "pg_clipfrac", "grad_norm"):
            assert math.isfinite(values[name]), (step, name, values)
        assert 0 < values["completion_length/mean"] <= GRPO["max_new_tokens"]
        assert -GRPO["length_penalty"] <= values["reward/length/mean"] < 0
    # Step 1 updates the initial policy, which is the reference: no divergence yet.
    assert abs(metrics[1]["kl"]) < 1e-5
    assert any(abs(values["kl"]) > 1e-6 for values in metrics.values())


def test_rollout_files_hold_each_completions_reward_from_the_scorer(finished: Path) -> None:
    events = read_events(finished)
    announced = [e for e in events if e["event"] == "rollouts"]
    assert [e["step"] for e in announced] == [1, 2, 4, 6]
    tok = load_tokenizer(finished / "tokenizer.model")
    weights = RewardWeights(
        correct=1.0, format=0.2, length_penalty=0.1, max_new_tokens=GRPO["max_new_tokens"]
    )
    holdout_and_train = (finished / "data" / "train.jsonl").read_text()
    metrics = metrics_by_step(finished)
    started_with_reasoning = 0
    for event in announced:
        assert event["path"] == f"rollouts/step-{event['step']:08d}.jsonl"
        rows = [json.loads(line) for line in (finished / event["path"]).read_text().splitlines()]
        assert event["count"] == len(rows) == 2 * 4
        assert [(r["prompt_index"], r["generation"]) for r in rows] == [
            (p, g) for p in range(2) for g in range(4)
        ]
        for row in rows:
            assert row["step"] == event["step"]
            assert json.dumps(row["prompt"])[1:-1] in holdout_and_train
            tokens = min(len(tok.encode(row["completion"])), GRPO["max_new_tokens"])
            reward = reward_of(row["completion"], row["expected"], tokens, weights)
            assert row["reward"] == pytest.approx(reward.total)
            assert row["rewards"] == pytest.approx(reward.parts)
            assert (row["answer"], row["correct"], row["format_ok"]) == (
                reward.answer,
                reward.correct,
                reward.format_ok,
            )
            started_with_reasoning += row["completion"].startswith("Reasoning:")
        # Group-relative advantages: (reward - group mean) / (group std + 1e-6).
        for prompt in range(2):
            group = np.array([r["reward"] for r in rows if r["prompt_index"] == prompt])
            expected = (group - group.mean()) / (group.std(ddof=1) + 1e-6)
            advantages = [r["advantage"] for r in rows if r["prompt_index"] == prompt]
            assert advantages == pytest.approx(expected.tolist(), abs=1e-5)
        # The file covers the whole batch here: the step's metrics are of these rows.
        mean = float(np.mean([r["reward"] for r in rows]))
        assert metrics[event["step"]]["reward/mean"] == pytest.approx(mean)
    # The policy starts from the SFT checkpoint: an untrained model never writes the format.
    assert started_with_reasoning >= len(announced) * 8 // 2


def test_checkpoints_and_end_of_run_evaluation(finished: Path) -> None:
    events = read_events(finished)
    steps = [e["step"] for e in events if e["event"] == "checkpoint"]
    assert steps == [2, 4, 6]
    for step in steps:
        assert (finished / "checkpoints" / str(step)).is_dir()
    summary = json.loads((finished / "eval.json").read_text())["summary"]
    assert summary["n"] == 8 and summary["step"] == GRPO_HP["max_steps"]
    # Evaluations during training (every 3 steps, on the same 8 examples): the last one
    # saw the weights the end-of-run evaluation saw.
    metrics = metrics_by_step(finished)
    assert [s for s in metrics if "eval/exact_match" in metrics[s]] == [3, 6]
    assert metrics[6]["eval/exact_match"] == summary["exact_match"]
    assert metrics[6]["eval/format_ok"] == summary["format_ok"]
    assert events[-1] == {"event": "phase", "phase": "done"}


def test_sigterm_checkpoints_exits_75_and_rerun_resumes_identically(
    source_run: Path, finished: Path, jax_cache_dir: str, tmp_path: Path
) -> None:
    run_dir = grpo_run(source_run, "interrupted", jax_cache_dir)
    log = tmp_path / "child.log"
    process = start_child(run_dir / "spec.json", log)
    try:
        wait_for_event(run_dir, lambda e: e["event"] == "metric" and e["step"] >= 1, process)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 75, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    assert time.monotonic() - signalled < 30
    stopped_at = max(metrics_by_step(run_dir))
    assert stopped_at < GRPO_HP["max_steps"], "the run ended before the signal: no stop seen"
    events = read_events(run_dir)
    assert {"event": "checkpoint", "step": stopped_at, "path": f"checkpoints/{stopped_at}"} in (
        events
    )
    assert events[-1]["event"] == "error" and "SIGTERM" in events[-1]["message"]
    assert not (run_dir / "eval.json").exists()

    resumed = run_child(run_dir / "spec.json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from checkpoint at step {stopped_at}" in resumed.stdout
    # Same seed: the resumed run samples and updates as the uninterrupted one did.
    metrics, expected = metrics_by_step(run_dir), metrics_by_step(finished)
    assert sorted(metrics) == sorted(expected)
    for step in expected:
        for name in ("loss", "kl", "reward/mean", "completion_length/mean"):
            assert metrics[step][name] == pytest.approx(expected[step][name], rel=1e-4, abs=1e-6), (
                step,
                name,
            )
    assert json.loads((run_dir / "eval.json").read_text())["summary"]["n"] == 8


def test_sft_with_init_starts_from_the_checkpoint(source_run: Path, jax_cache_dir: str) -> None:
    """init on an SFT spec: the run starts from those weights (its first loss is the
    source's late loss, not a from-scratch model's ~ln(vocab))."""
    run_dir = source_run.parent / "sft-from-init"
    (run_dir / "init" / "checkpoints").mkdir(parents=True)
    (run_dir / "init" / "checkpoints" / str(SOURCE_STEPS)).symlink_to(
        source_run / "checkpoints" / str(SOURCE_STEPS)
    )
    (run_dir / "data").symlink_to(source_run / "data")
    path = write_spec(
        run_dir,
        tokenizer={"kind": "file", "path": str(source_run / "tokenizer.model")},
        hyperparameters={"max_steps": 2, "batch_size": 8, "save_every_steps": 2, "seed": 5},
        evaluation={"max_examples": 0},
        jax_cache_dir=jax_cache_dir,
    )
    spec = json.loads(path.read_text())
    spec["init"] = {"step": SOURCE_STEPS}
    path.write_text(json.dumps(spec))
    result = run_child(path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"starting from init checkpoint {SOURCE_STEPS}" in result.stdout
    source_losses = metrics_by_step(source_run)
    first = metrics_by_step(run_dir)[1]["loss"]
    assert source_losses[1]["loss"] > 4.0
    assert first < source_losses[1]["loss"] / 2
