"""The one versioned scorer: extraction, normalisation, correctness, format; and that trace
scoring and the training child's evaluation both decide through it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tunix_rt.traces import scorer, scoring
from tunix_rt.traces.schema import TracePayload, TraceStep
from tunix_rt.training import data, evaluate
from tunix_rt.training.events import EventChannel


@pytest.mark.parametrize(
    ("generated", "extracted"),
    [
        ("no answer at all", None),
        ("", None),
        ("answer: lower-case label is not the marker", None),
        ("Answer: B", "B"),
        ("Answer:B", "B"),
        ("Answer:   tie  \n<end_of_turn>", "tie"),
        ("Answer: A<end_of_turn>trailing junk Answer: B", "A"),
        # Several answers: everything after the first marker is the answer, so it is wrong.
        ("Reasoning:\n1. a\nAnswer: A wins\nAnswer: A", "A wins\nAnswer: A"),
        ("Answer:<end_of_turn>", ""),
    ],
)
def test_extract_answer(generated: str, extracted: str | None) -> None:
    assert scorer.extract_answer(generated) == extracted


@pytest.mark.parametrize(
    ("answer", "expected", "correct"),
    [
        ("B", "b", True),
        ("  Tie. ", "tie", True),
        ("A  wins", "a wins", True),
        ("A wins\nAnswer: A", "A", False),
        ("A", "A wins", False),
        ("42", 42, True),
        (None, "A", False),
        ("4.2", "42", False),
    ],
)
def test_is_correct_normalises_case_whitespace_and_final_period(
    answer: str | None, expected: object, correct: bool
) -> None:
    assert scorer.is_correct(answer, expected) is correct


@pytest.mark.parametrize(
    ("generated", "expected", "extracted", "correct", "format_ok"),
    [
        ("Reasoning:\n1. a\n2. b\nAnswer: B", "B", "B", True, True),
        ("Answer: TIE<end_of_turn>", "tie", "TIE", True, True),
        ("Reasoning:\n1. a\nAnswer: A wins\nAnswer: A", "A", "A wins\nAnswer: A", False, False),
        ("Reasoning:\n1. a\n3\nAnswer: A", "A", "A", True, False),
        ("I think it is A", "A", None, False, False),
    ],
)
def test_score_generation(
    generated: str, expected: str, extracted: str | None, correct: bool, format_ok: bool
) -> None:
    verdict = scorer.score_generation(generated, expected)
    assert verdict == scorer.Verdict(extracted=extracted, correct=correct, format_ok=format_ok)


def test_trace_answer_match_uses_the_scorer_and_records_its_version() -> None:
    payload = TracePayload(
        trace_version="1",
        prompt="p",
        final_answer=" Tie. ",
        steps=[TraceStep(i=0, type="reasoning", content="s")],
        meta={"expected_answer": "tie"},
    )
    score, details = scoring.score_answer_match(payload)
    assert score == 100.0
    assert details["scorer_version"] == scorer.SCORER_VERSION == "answer-v1"


def example(i: int, expected: str) -> data.Example:
    return data.Example(
        id=f"e{i}",
        prompt=f"p{i}",
        response=f"Answer: {expected}",
        user_prompt=f"u{i}",
        trace_id=f"t{i}",
        expected_answer=expected,
        task="compare",
    )


def test_evaluation_scores_with_the_scorer_and_writes_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = ["Answer: b<end_of_turn>", "Reasoning:\n1. x\nAnswer: A\nAnswer: B", "nothing"]
    # The sampler needs a real model and accelerator time; the texts it would return are
    # fixed here so that only the scoring of eval.json is under test.
    monkeypatch.setattr(evaluate, "plan_prompt_length", lambda processor, examples: 8)
    monkeypatch.setattr(evaluate, "generate", lambda *args: list(outputs))
    events = EventChannel(tmp_path)
    output = tmp_path / "eval.json"
    summary = evaluate.run_evaluation(
        cast(Any, None),
        # A tokenizer without a chat template: prompts stay in the examples' turn format.
        SimpleNamespace(chat_template=None),
        [example(0, "B"), example(1, "B"), example(2, "A")],
        max_examples=10,
        max_new_tokens=8,
        output=output,
        events=events,
        step=3,
    )
    report = json.loads(output.read_text())
    assert report["scorer_version"] == summary["scorer_version"] == scorer.SCORER_VERSION
    assert report["summary"]["scorer_version"] == scorer.SCORER_VERSION
    rows = report["examples"]
    assert [r["extracted_answer"] for r in rows] == ["b", "A\nAnswer: B", None]
    assert [r["correct"] for r in rows] == [True, False, False]
    assert [r["format_ok"] for r in rows] == [True, False, False]
    assert summary["exact_match"] == pytest.approx(1 / 3)


def test_empty_evaluation_still_records_the_scorer_version(tmp_path: Path) -> None:
    output = tmp_path / "eval.json"
    evaluate.run_evaluation(
        cast(Any, None), None, [], 10, 8, output, EventChannel(tmp_path), step=0
    )
    report = json.loads(output.read_text())
    assert report["scorer_version"] == "answer-v1"
    assert report["summary"]["n"] == 0
