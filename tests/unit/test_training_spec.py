"""The training child's pure parts: spec validation, record parsing, answer scoring, batches."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tunix_rt.training import batches, data, events, spec
from tunix_rt.training.tokenizer import EncodedExample


def valid_spec(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"run_dir": "/tmp/run", "hyperparameters": {"max_steps": 10}}
    raw.update(overrides)
    return raw


def test_contract_example_spec_parses_with_defaults() -> None:
    parsed = spec.parse_spec(valid_spec(model={"preset": "small"}))
    assert parsed.hyperparameters.learning_rate == 0.003
    assert parsed.tokenizer.kind == "sentencepiece_train"
    assert parsed.resolve("data/train.jsonl") == Path("/tmp/run/data/train.jsonl")
    assert parsed.checkpoints_dir == Path("/tmp/run/checkpoints")


def test_every_bad_field_is_named_in_one_message() -> None:
    with pytest.raises(spec.SpecError) as caught:
        spec.parse_spec(
            valid_spec(
                hyperparameters={"batch_size": 0, "warmup_fraction": 2},
                tokenizer={"kind": "sentencepiece_train", "vocab_size": 100},
                surprise=1,
            )
        )
    message = str(caught.value)
    for field in (
        "hyperparameters.batch_size",
        "hyperparameters.warmup_fraction",
        "tokenizer.sentencepiece_train.vocab_size",
        "surprise",
    ):
        assert field in message


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"hyperparameters": {"max_steps": 5, "num_epochs": 1}}, "not both"),
        ({"run_dir": "relative/dir"}, "absolute"),
        ({"hyperparameters": {"lora_rank": 4}}, "pretrained"),
        ({"model": {"family": "gpt2", "config_preset": "x", "path": "/m"}}, "family"),
        ({"spec_version": 2}, "spec_version"),
    ],
)
def test_inconsistent_specs_are_refused(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(spec.SpecError, match=fragment):
        spec.parse_spec(valid_spec(**overrides))


def test_unreadable_spec_file_is_a_spec_error(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text("{not json")
    with pytest.raises(spec.SpecError, match="not valid JSON"):
        spec.load_spec(tmp_path / "spec.json")
    with pytest.raises(spec.SpecError, match="not found"):
        spec.load_spec(tmp_path / "missing.json")


RECORD = {
    "id": "t1",
    "prompts": "<start_of_turn>user\nWhat is 2 + 3?<end_of_turn>\n<start_of_turn>model\n"
    "Reasoning:\n1. ones: 2 + 3 = 5\nAnswer: 5<end_of_turn>",
    "final_answer": "5",
    "metadata": {"trace_id": "t1", "expected_answer": "5", "task": "addition"},
}


def test_record_splits_at_the_first_model_turn() -> None:
    example = data.parse_record(RECORD, "train.jsonl:1")
    assert example.prompt.endswith("<start_of_turn>model\n")
    assert example.response.startswith("Reasoning:\n1.")
    assert example.user_prompt == "What is 2 + 3?"
    assert (example.trace_id, example.expected_answer, example.task) == ("t1", "5", "addition")


def test_malformed_record_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(RECORD) + "\n\n{oops\n")
    with pytest.raises(data.DatasetError, match=r"train.jsonl:3: invalid JSON"):
        data.load_examples(path)


@pytest.mark.parametrize(
    ("generated", "answer", "format_ok"),
    [
        ("Reasoning:\n1. a\n2. b\nAnswer: B", "B", True),
        ("Answer: tie<end_of_turn>", "tie", True),
        ("Reasoning:\n1. a\nAnswer: A wins\nAnswer: A", "A wins\nAnswer: A", False),
        ("Reasoning:\n1. a\n3\nAnswer: A", "A", False),
        ("no answer at all", None, False),
    ],
)
def test_answer_extraction_and_format(generated: str, answer: str | None, format_ok: bool) -> None:
    assert data.extract_answer(generated) == answer
    assert data.is_format_ok(generated) is format_ok


def encoded(lengths: list[int], prompt: int = 3) -> list[EncodedExample]:
    return [EncodedExample(list(range(5, 5 + n)), prompt) for n in lengths]


def test_batches_pad_to_the_longest_example_and_mask_only_the_response() -> None:
    examples = encoded([10, 17, 12])
    assert batches.plan_seq_length(examples, 128) == 24
    assert batches.plan_seq_length(examples, 16) == 16
    tokens, mask = batches.build_batch(examples[:2], 16)
    assert tokens.shape == (2, 16)
    assert mask[0].tolist() == [0, 0, 0] + [1] * 7 + [0] * 6
    assert mask[1].sum() == 13  # truncated to 16, minus the 3 prompt tokens


def test_batch_order_is_a_function_of_the_seed_only() -> None:
    class Never:
        requested = False

    plan = batches.BatchPlan(batch_size=4, seq_length=24, total_steps=7, seed=11)
    examples = encoded(list(range(8, 18)))
    first = [t for t, _ in batches.iter_batches(examples, plan, Never(), [])]
    again = [t for t, _ in batches.iter_batches(examples, plan, Never(), [])]
    assert len(first) == 7
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    other = batches.BatchPlan(batch_size=4, seq_length=24, total_steps=7, seed=12)
    shuffled = [t for t, _ in batches.iter_batches(examples, other, Never(), [])]
    assert not all(np.array_equal(a, b) for a, b in zip(first, shuffled, strict=True))


def test_batches_stop_on_request_at_a_step_boundary() -> None:
    class After:
        def __init__(self) -> None:
            self.calls = 0

        @property
        def requested(self) -> bool:
            self.calls += 1
            return self.calls > 3

    plan = batches.BatchPlan(batch_size=2, seq_length=16, total_steps=50, seed=0)
    assert len(list(batches.iter_batches(encoded([9, 10]), plan, After(), []))) == 3


def test_events_go_to_the_fd_and_metrics_also_to_metrics_jsonl(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    channel = events.EventChannel(tmp_path, fd=write_end)
    channel.phase("train", max_steps=3)
    channel.emit("metric", step=1, values={"loss": 2.5, "grad_norm": float("nan")})
    os.close(write_end)
    lines = os.read(read_end, 65536).decode().splitlines()
    os.close(read_end)
    assert json.loads(lines[0]) == {"event": "phase", "phase": "train", "max_steps": 3}
    metric = {"event": "metric", "step": 1, "values": {"loss": 2.5, "grad_norm": None}}
    assert json.loads(lines[1]) == metric
    assert json.loads((tmp_path / "metrics.jsonl").read_text()) == metric
    assert not (tmp_path / "events.jsonl").exists()
