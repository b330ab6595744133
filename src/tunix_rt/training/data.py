"""Examples: tunix_sft or chat JSONL records split into prompt (no loss) and response (loss).

Each example carries both renderings: `prompt`/`response` in Gemma's turn format (what the
from-scratch presets train on), and `messages` + `assistant` (the conversation before the
answer and the answer's text), which a model's own chat template renders
(training/tokenizer.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunix_rt.traces import scorer

MODEL_TURN = "<start_of_turn>model\n"
USER_TURN = "<start_of_turn>user\n"
END_OF_TURN = "<end_of_turn>"


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
    # The conversation up to the answer ({role, content}) and the answer itself.
    messages: tuple[dict[str, str], ...] = field(default=())
    assistant: str = ""

    def chat_messages(self) -> list[dict[str, str]]:
        """The conversation before the answer (the user prompt alone when none is stored)."""
        if self.messages:
            return [dict(m) for m in self.messages]
        return [{"role": "user", "content": self.user_prompt}]

    def assistant_text(self) -> str:
        if self.assistant:
            return self.assistant
        text = self.response.rstrip()
        return text[: -len(END_OF_TURN)] if text.endswith(END_OF_TURN) else text


def extract_user_prompt(prompt: str) -> str:
    text = prompt.split(USER_TURN, 1)[-1]
    return text.split(END_OF_TURN, 1)[0]


# Answer extraction and the format check are the one scorer's (traces/scorer.py).
extract_answer = scorer.extract_answer
is_format_ok = scorer.is_format_ok


def gemma_turns(messages: list[dict[str, str]]) -> str:
    """Messages in Gemma's turn format (system and user turns as user, assistant as model)."""
    parts = []
    for message in messages:
        role = "model" if message["role"] == "assistant" else "user"
        parts.append(f"<start_of_turn>{role}\n{message['content']}{END_OF_TURN}\n")
    return "".join(parts)


def _parse_messages(raw: object, where: str) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{where}: 'messages' must be a non-empty list")
    messages = []
    for number, message in enumerate(raw):
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("role"), str)
            or not isinstance(message.get("content"), str)
        ):
            raise DatasetError(f"{where}: messages[{number}] must be {{role, content}} strings")
        if message["role"] not in ("system", "user", "assistant"):
            raise DatasetError(
                f"{where}: messages[{number}].role {message['role']!r} is not "
                "system, user or assistant"
            )
        messages.append({"role": message["role"], "content": message["content"]})
    if messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
        raise DatasetError(f"{where}: the last message must be a non-empty assistant turn")
    if len(messages) < 2:
        raise DatasetError(f"{where}: 'messages' needs a turn before the assistant's")
    return messages


def parse_chat_record(raw: dict[str, Any], where: str) -> Example:
    """A `chat` export record: {id, messages: [{role, content}...], final_answer, metadata};
    the last message is the assistant's answer (the loss target)."""
    messages = _parse_messages(raw.get("messages"), where)
    context, answer = messages[:-1], messages[-1]["content"]
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise DatasetError(f"{where}: 'metadata' must be an object")
    final_answer = raw.get("final_answer")
    expected = metadata.get("expected_answer")
    if expected is None:
        expected = final_answer if isinstance(final_answer, str) else extract_answer(answer)
    trace_id = str(metadata.get("trace_id") or raw.get("id") or where)
    task = metadata.get("task")
    users = [m["content"] for m in context if m["role"] == "user"]
    return Example(
        id=str(raw.get("id") or trace_id),
        prompt=gemma_turns(context) + MODEL_TURN,
        response=answer + END_OF_TURN,
        user_prompt=users[-1] if users else context[-1]["content"],
        trace_id=trace_id,
        expected_answer=str(expected or ""),
        task=str(task) if task else "unknown",
        messages=tuple(context),
        assistant=answer,
    )


def parse_record(raw: object, where: str) -> Example:
    if not isinstance(raw, dict):
        raise DatasetError(f"{where}: expected a JSON object")
    if "messages" in raw and "prompts" not in raw:
        return parse_chat_record(raw, where)
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
