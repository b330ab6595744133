"""The one scorer: answer extraction, normalisation, correctness and the format check.

Trace scoring (answer_match), the training child's evaluation and any reward use these
functions and nothing else, so one verdict means the same everywhere. Any change to what
counts as correct is a new SCORER_VERSION, stored with every evaluation, so figures made
by different versions are never compared as if they were alike. No database imports: the
training child imports this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCORER_VERSION = "answer-v1"
END_OF_TURN = "<end_of_turn>"
_ANSWER = re.compile(r"Answer:(.*?)(?:<end_of_turn>|$)", re.DOTALL)
_FORMAT = re.compile(r"^(Reasoning:\n(\d+\. [^\n]*\n)+)?Answer: [^\n]*?\s*(<end_of_turn>)?\s*$")


@dataclass(frozen=True)
class Verdict:
    extracted: str | None
    correct: bool
    format_ok: bool


def extract_answer(generated: str) -> str | None:
    """The text after the first "Answer:" up to <end_of_turn> (or the end), stripped;
    None when there is no "Answer:".

    Anything the model adds after its answer (a second "Answer:" line...) stays in the
    extracted text and so makes it wrong: a model cannot hedge with several answers.
    """
    match = _ANSWER.search(generated)
    return match.group(1).strip() if match else None


def normalise_answer(value: object) -> str:
    """Case-, whitespace- and trailing-period-insensitive form of an answer."""
    text = " ".join(str(value).split()).casefold()
    return text.rstrip(".").strip()


def is_correct(answer: str | None, expected: object) -> bool:
    """An answer (already extracted) is correct when its normalised form equals the
    normalised expected answer. No answer is never correct."""
    return answer is not None and normalise_answer(answer) == normalise_answer(expected)


def is_format_ok(generated: str) -> bool:
    """Reasoning:/numbered steps (optional)/Answer: <text>, and nothing else."""
    return _FORMAT.match(generated.strip()) is not None


def score_generation(generated: str, expected: object) -> Verdict:
    """The verdict on a model's full generated text against the expected answer."""
    extracted = extract_answer(generated)
    return Verdict(
        extracted=extracted,
        correct=is_correct(extracted, expected),
        format_ok=is_format_ok(generated),
    )
