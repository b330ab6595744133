"""Real training on CPU: a tiny model learns the high-card duel and the run is usable after.

One 200-step run (about 30 s here) serves several assertions: loss falls, held-out accuracy,
eval.json shape, and restoring the final checkpoint in a fresh process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.conftest import child_env, metric_losses, run_child
from tests.training.datasets import read_events, write_dataset, write_spec

pytestmark = [pytest.mark.slow, pytest.mark.training]

STEPS = 200


@pytest.fixture(scope="module")
def duel_run(tmp_path_factory: pytest.TempPathFactory, jax_cache_dir: str) -> Path:
    run_dir = tmp_path_factory.mktemp("duel-run")
    write_dataset(run_dir, "high_card_duel", train_count=2000, holdout_count=200, seed=0)
    spec = write_spec(
        run_dir,
        hyperparameters={"max_steps": STEPS, "save_every_steps": 100, "seed": 0},
        jax_cache_dir=jax_cache_dir,
    )
    result = run_child(spec)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_tiny_model_learns_high_card_duel_on_unseen_prompts(duel_run: Path) -> None:
    train_prompts = {
        json.loads(line)["prompts"].split("<end_of_turn>")[0]
        for line in (duel_run / "data" / "train.jsonl").read_text().splitlines()
    }
    report = json.loads((duel_run / "eval.json").read_text())
    assert report["summary"]["n"] == 200
    for example in report["examples"]:
        assert f"<start_of_turn>user\n{example['prompt']}" not in train_prompts
    assert report["summary"]["exact_match"] >= 0.85, report["summary"]
    assert report["summary"]["format_ok"] >= 0.9


def test_loss_falls_and_every_step_is_reported(duel_run: Path) -> None:
    losses = metric_losses(duel_run)
    assert sorted(losses) == list(range(1, STEPS + 1))
    first, last = sum(losses[s] for s in range(1, 11)), sum(losses[s] for s in range(191, 201))
    assert last < first / 10, (first / 10, last / 10)
    metric = next(e for e in read_events(duel_run) if e["event"] == "metric" and e["step"] == 50)
    assert set(metric["values"]) >= {"loss", "perplexity", "learning_rate", "grad_norm"}
    assert metric["values"]["tokens_per_s"] > 0


def test_events_follow_the_contract(duel_run: Path) -> None:
    events = read_events(duel_run)
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    assert phases == ["tokenize", "compile", "train", "evaluate", "done"]
    checkpoints = [e["step"] for e in events if e["event"] == "checkpoint"]
    assert checkpoints == [100, 200]  # no step-1 checkpoint taking a kept slot
    assert sorted(p.name for p in (duel_run / "checkpoints").iterdir()) == ["100", "200"]
    kinds = [e["event"] for e in events]
    assert kinds.index("eval") > max(i for i, k in enumerate(kinds) if k == "metric")
    example = json.loads((duel_run / "eval.json").read_text())["examples"][0]
    assert set(example) == {
        "id", "trace_id", "prompt", "expected_answer", "generated", "extracted_answer",
        "correct", "format_ok", "task",
    }  # fmt: skip
    assert example["trace_id"].startswith("high_card_duel-")
    assert "<start_of_turn>" not in example["prompt"]


def test_checkpoint_restores_in_a_new_process_and_samples(duel_run: Path) -> None:
    prompt = (
        "Player A draws the 3 of hearts and player B draws the king of spades. "
        "Aces are high. Who wins?"
    )
    result = subprocess.run(
        [sys.executable, "-m", "tunix_rt.training.sample", str(duel_run), prompt],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["step"] == STEPS
    assert line["generated"].startswith("Reasoning:\n1. A has 3, rank 3")
    assert line["answer"] == "B"
