"""The child program run directly: graceful stop, exact resume, dry run, bad input."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.training.conftest import metric_losses, run_child, start_child, wait_for_event
from tests.training.datasets import read_events, sft_records, write_dataset, write_spec

pytestmark = [pytest.mark.slow, pytest.mark.training]

SHORT = {"max_steps": 40, "save_every_steps": 25, "keep_checkpoints": 2, "seed": 3}
QUICK_EVAL = {"max_examples": 16, "max_new_tokens": 40}


def make_run(root: Path, name: str, jax_cache_dir: str, max_examples: int = 16) -> Path:
    run_dir = root / name
    write_dataset(run_dir, "high_card_duel", train_count=400, holdout_count=16, seed=3)
    write_spec(
        run_dir,
        hyperparameters=SHORT,
        evaluation={**QUICK_EVAL, "max_examples": max_examples},
        jax_cache_dir=jax_cache_dir,
    )
    return run_dir


def test_sigterm_checkpoints_exits_75_and_resume_continues_the_same_curve(
    tmp_path: Path, jax_cache_dir: str
) -> None:
    reference = make_run(tmp_path, "reference", jax_cache_dir, max_examples=0)
    assert run_child(reference / "spec.json").returncode == 0
    expected = metric_losses(reference)

    run_dir = make_run(tmp_path, "interrupted", jax_cache_dir)
    process = start_child(run_dir / "spec.json", tmp_path / "child.log")
    try:
        wait_for_event(run_dir, lambda e: e["event"] == "metric" and e["step"] >= 12, process)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 75, (tmp_path / "child.log").read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    assert time.monotonic() - signalled < 30
    stopped_at = max(metric_losses(run_dir))
    assert stopped_at < SHORT["max_steps"]
    events = read_events(run_dir)
    assert {
        "event": "checkpoint",
        "step": stopped_at,
        "path": f"checkpoints/{stopped_at}",
    } in events
    assert (run_dir / "checkpoints" / str(stopped_at)).is_dir()
    assert events[-1]["event"] == "error" and "SIGTERM" in events[-1]["message"]
    assert not (run_dir / "eval.json").exists()

    resumed = run_child(run_dir / "spec.json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from checkpoint at step {stopped_at}" in resumed.stdout
    events = read_events(run_dir)
    train_phases = [e for e in events if e["event"] == "phase" and e["phase"] == "train"]
    assert train_phases[-1]["start_step"] == stopped_at
    losses = metric_losses(run_dir)
    assert sorted(losses) == list(range(1, SHORT["max_steps"] + 1))
    # Same spec and seed: the resumed curve is the uninterrupted one, step for step.
    for step in range(1, SHORT["max_steps"] + 1):
        assert losses[step] == pytest.approx(expected[step], rel=1e-4, abs=1e-5), step
    assert json.loads((run_dir / "eval.json").read_text())["summary"]["n"] == 16


def test_dry_run_reports_lengths_and_truncation_in_seconds(tmp_path: Path) -> None:
    import sentencepiece as spm

    run_dir = tmp_path / "dry"
    (run_dir / "data").mkdir(parents=True)
    rows = sft_records("high_card_duel", 60, 0, "train") + sft_records(
        "multiplication", 20, 0, "train"
    )
    (run_dir / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run_dir / "data" / "holdout.jsonl").write_text("")
    write_spec(run_dir, dry_run=True, hyperparameters={"max_seq_length": 96})
    started = time.monotonic()
    result = run_child(run_dir / "spec.json", timeout_s=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    assert elapsed < 20

    processor = spm.SentencePieceProcessor(model_file=str(run_dir / "tokenizer.model"))
    lengths, responses = [], []
    for row in rows:
        prompt, response = row["prompts"].split("<start_of_turn>model\n", 1)
        prompt += "<start_of_turn>model\n"
        responses.append(len(processor.encode(response)))
        lengths.append(1 + len(processor.encode(prompt)) + responses[-1])
    too_long = sum(1 for n in lengths if n > 96)
    assert 0 < too_long < len(rows)

    report = json.loads((run_dir / "dry_run.json").read_text())
    assert report["truncated_examples"] == too_long
    too_long_to_generate = sum(1 for n in responses if n > 64)  # evaluation.max_new_tokens
    assert too_long_to_generate > 0
    assert report["responses_longer_than_max_new_tokens"] == too_long_to_generate
    assert report["token_lengths"]["min"] == min(lengths)
    assert report["token_lengths"]["max"] == max(lengths)
    assert report["train_examples"] == 80 and report["holdout_examples"] == 0
    assert 400_000 < report["parameter_count"] < 700_000
    assert report["estimated_memory_bytes"] > report["parameter_count"] * 4
    assert not (run_dir / "checkpoints").exists()
    assert read_events(run_dir)[-2] == {"event": "dry_run", "report": report}


def test_invalid_spec_exits_2_naming_each_bad_field(tmp_path: Path) -> None:
    run_dir = tmp_path / "bad"
    spec = write_spec(
        run_dir,
        hyperparameters={"batch_size": 0, "learning_rate": -1},
        model={"preset": "huge"},
    )
    result = run_child(spec, timeout_s=60)
    assert result.returncode == 2
    for field in ("hyperparameters.batch_size", "hyperparameters.learning_rate", "model"):
        assert field in result.stderr
    error = read_events(run_dir)[-1]
    assert error["event"] == "error" and "hyperparameters.batch_size" in error["message"]


def test_malformed_dataset_exits_2_with_the_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "baddata"
    write_dataset(run_dir, "high_card_duel", train_count=5, holdout_count=2)
    with (run_dir / "data" / "train.jsonl").open("a") as handle:
        handle.write('{"prompts": "no model turn here"}\n')
    result = run_child(write_spec(run_dir), timeout_s=60)
    assert result.returncode == 2
    assert "train.jsonl:6" in result.stderr and "model" in result.stderr
    assert read_events(run_dir)[-1]["event"] == "error"


def test_pretrained_model_without_weights_exits_2(tmp_path: Path) -> None:
    run_dir = tmp_path / "pretrained"
    write_dataset(run_dir, "high_card_duel", train_count=5, holdout_count=2)
    (tmp_path / "empty-model").mkdir()
    model = {
        "family": "qwen3",
        "config_preset": "qwen3_0p6b",
        "path": str(tmp_path / "empty-model"),
    }
    result = run_child(write_spec(run_dir, model=model), timeout_s=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "has no *.safetensors" in result.stderr
    assert read_events(run_dir)[-1]["event"] == "error"
