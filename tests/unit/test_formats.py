"""Export formats: the exact tunix_sft string and the other record shapes."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from tunix_rt.datasets import formats
from tunix_rt.datasets.formats import MemberTrace

DEFAULT_META = {"source": "generator:addition", "task": "addition", "expected_answer": "5"}


def member(
    steps: list[dict[str, object]] | None = None, meta: dict[str, object] | None = None
) -> MemberTrace:
    return MemberTrace(
        trace_id="11111111-1111-1111-1111-111111111111",
        created_at_raw=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        split="train",
        trace_version="1",
        prompt="What is 2 + 3?",
        final_answer="5",
        steps_json=json.dumps(
            steps
            if steps is not None
            else [
                {"i": 1, "type": "reasoning", "content": "2 + 3 = 5"},
                {"i": 0, "type": "reasoning", "content": "add the ones"},
            ]
        ),
        meta_json=json.dumps(meta if meta is not None else DEFAULT_META),
    )


def test_tunix_sft_exact_string() -> None:
    line = formats.format_line("tunix_sft", member())
    assert line.endswith("\n")
    record = json.loads(line)
    assert record == {
        "id": "11111111-1111-1111-1111-111111111111",
        "prompts": "<start_of_turn>user\nWhat is 2 + 3?<end_of_turn>\n<start_of_turn>model\n"
        "Reasoning:\n1. add the ones\n2. 2 + 3 = 5\nAnswer: 5<end_of_turn>",
        "final_answer": "5",
        "metadata": {
            "source": "generator:addition",
            "task": "addition",
            "expected_answer": "5",
            "trace_id": "11111111-1111-1111-1111-111111111111",
        },
    }


def test_tunix_sft_without_steps_has_no_reasoning_block() -> None:
    record = formats.format_record("tunix_sft", member(steps=[]))
    assert record["prompts"] == (
        "<start_of_turn>user\nWhat is 2 + 3?<end_of_turn>\n<start_of_turn>model\n"
        "Answer: 5<end_of_turn>"
    )


def test_training_example_and_trace_formats() -> None:
    example = formats.format_record("training_example", member())
    assert example["prompt"] == "What is 2 + 3?"
    assert example["response"] == "Reasoning:\n1. add the ones\n2. 2 + 3 = 5\nAnswer: 5"
    assert example["metadata"]["trace_id"] == example["id"]
    trace = formats.format_record("trace", member())
    assert trace["created_at"] == "2026-01-02T03:04:05+00:00"
    sqlite_raw = dataclasses.replace(member(), created_at_raw="2026-01-02 03:04:05.000001")
    assert sqlite_raw.created_at.isoformat() == "2026-01-02T03:04:05.000001+00:00"
    assert trace["split"] == "train"
    assert trace["steps"][0]["i"] == 1  # stored order is kept in the raw format


def test_non_ascii_is_kept_readable() -> None:
    m = dataclasses.replace(member(), prompt='¿Cuánto es "2 + 3"?\n')
    line = formats.format_line("tunix_sft", m)
    assert "¿Cuánto" in line
    assert json.loads(line)["prompts"].startswith('<start_of_turn>user\n¿Cuánto es "2 + 3"?\n<')


def test_metadata_splice_handles_empty_and_existing_trace_id() -> None:
    assert formats.format_record("tunix_sft", member(meta={}))["metadata"] == {
        "trace_id": "11111111-1111-1111-1111-111111111111"
    }
    clash = formats.format_record("tunix_sft", member(meta={"trace_id": "old", "k": [1]}))
    assert clash["metadata"] == {"trace_id": "11111111-1111-1111-1111-111111111111", "k": [1]}
