"""Examples: tunix_sft JSONL records split into prompt (no loss) and response (loss)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

MODEL_TURN = "<start_of_turn>model\n"
USER_TURN = "<start_of_turn>user\n"
END_OF_TURN = "<end_of_turn>"
_ANSWER = re.compile(r"Answer:(.*?)(?:<end_of_turn>|$)", re.DOTALL)
_FORMAT = re.compile(r"^(Reasoning:\n(\d+\. [^\n]*\n)+)?Answer: [^\n]*?\s*(<end_of_turn>)?\s*$")


class DatasetError(ValueError):
    """The dataset is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    id: str
    prompt: str  # templated prompt, up to and including "<start_of_turn>model\n"
    response: str  # what the model must produce (loss only here)
    user_prompt: str  # the raw user text, for eval.json and stored traces
    trace_id: str
    expected_answer: str
    task: str  # breakdown key for evaluation ("unknown" when the trace has none)


def extract_user_prompt(prompt: str) -> str:
    text = prompt.split(USER_TURN, 1)[-1]
    return text.split(END_OF_TURN, 1)[0]


def extract_answer(generated: str) -> str | None:
    """The text after the first "Answer:" up to <end_of_turn> (or the end), stripped.

    Anything the model adds after its answer (a second "Answer:" line...) makes it wrong.
    """
    match = _ANSWER.search(generated)
    return match.group(1).strip() if match else None


def is_format_ok(generated: str) -> bool:
    """Reasoning:/numbered steps (optional)/Answer: <text>, and nothing else."""
    return _FORMAT.match(generated.strip()) is not None


def parse_record(raw: object, where: str) -> Example:
    if not isinstance(raw, dict):
        raise DatasetError(f"{where}: expected a JSON object")
    prompts = raw.get("prompts")
    if not isinstance(prompts, str) or not prompts:
        raise DatasetError(f"{where}: 'prompts' must be a non-empty string")
    if MODEL_TURN not in prompts:
        raise DatasetError(f"{where}: 'prompts' has no {MODEL_TURN!r} marker")
    head, response = prompts.split(MODEL_TURN, 1)
    if not response.strip():
        raise DatasetError(f"{where}: empty response after the model turn")
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise DatasetError(f"{where}: 'metadata' must be an object")
    final_answer = raw.get("final_answer")
    expected = metadata.get("expected_answer")
    if expected is None:
        expected = final_answer if isinstance(final_answer, str) else extract_answer(response)
    trace_id = str(metadata.get("trace_id") or raw.get("id") or where)
    task = metadata.get("task")
    return Example(
        id=str(raw.get("id") or trace_id),
        prompt=head + MODEL_TURN,
        response=response,
        user_prompt=extract_user_prompt(head),
        trace_id=trace_id,
        expected_answer=str(expected or ""),
        task=str(task) if task else "unknown",
    )


def load_examples(path: Path) -> list[Example]:
    if not path.is_file():
        raise DatasetError(f"dataset file not found: {path}")
    examples: list[Example] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: invalid JSON ({exc.msg})") from exc
            examples.append(parse_record(raw, where))
    return examples
