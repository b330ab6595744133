"""Export formats: one JSON object per dataset member.

- `trace`: the stored trace, `{id, created_at, split, trace_version, prompt, final_answer,
  steps, meta}`.
- `tunix_sft`: the training contract (see the team brief): `{id, prompts, final_answer,
  metadata}` where `prompts` is the Gemma chat template with the reasoning as the response.
- `training_example`: the same text without a chat template, `{id, prompt, response,
  final_answer, metadata}`, for other trainers.
- `chat`: template-neutral messages, `{id, messages: [{role: "user", content: prompt},
  {role: "assistant", content: response}], final_answer, metadata}`: what a model's own
  chat template renders (the training child reads it too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from pydantic_core import from_json

FORMATS = ("trace", "tunix_sft", "training_example", "chat")
SPLITS = ("train", "holdout", "all")
STEP_INDEX = itemgetter("i")


# Encodes one str as a JSON string literal in C (json.dumps builds an encoder per call).
encode_json_str = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(slots=True)
class MemberTrace:
    """A dataset member with its trace payload, as read for export.

    steps and meta stay JSON text as stored: the `trace` format splices them into the line
    unparsed, and the others parse only the steps. Export speed depends on it.
    """

    trace_id: str
    created_at_raw: datetime | str  # as the driver returns it (SQLite: naive UTC text)
    split: str
    trace_version: str
    prompt: str
    final_answer: str
    steps_json: str
    meta_json: str

    @property
    def created_at(self) -> datetime:
        raw = self.created_at_raw
        value = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @property
    def steps(self) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = from_json(self.steps_json)  # Rust parser, ~2x json
        return steps

    @property
    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = json.loads(self.meta_json)
        return meta


def render_response(steps: list[dict[str, Any]], final_answer: str) -> str:
    """`Reasoning:\n1. ..\n2. ..\nAnswer: X` (no Reasoning block without steps)."""
    if not steps:
        return f"Answer: {final_answer}"
    ordered = sorted(steps, key=STEP_INDEX)
    numbered = "\n".join(f"{n}. {s['content']}" for n, s in enumerate(ordered, start=1))
    return f"Reasoning:\n{numbered}\nAnswer: {final_answer}"


def render_sft_prompts(prompt: str, steps: list[dict[str, Any]], final_answer: str) -> str:
    return (
        f"<start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n"
        f"{render_response(steps, final_answer)}<end_of_turn>"
    )


def member_metadata(member: MemberTrace) -> dict[str, Any]:
    return {**member.meta, "trace_id": member.trace_id}


def metadata_json(member: MemberTrace) -> str:
    """JSON text of meta + trace_id, spliced into the stored meta text without parsing it."""
    text = member.meta_json.strip()
    if '"trace_id"' in text or not text.endswith("}"):
        return json.dumps(member_metadata(member), ensure_ascii=False)
    id_field = f'"trace_id": "{member.trace_id}"'
    if text[1:-1].strip() == "":
        return "{" + id_field + "}"
    return f"{text[:-1]}, {id_field}}}"


def format_line(fmt: str, member: MemberTrace) -> str:
    """One JSONL line (ending in a newline) of a member in export format `fmt`."""
    trace_id = member.trace_id
    if fmt == "tunix_sft":
        prompts = render_sft_prompts(member.prompt, member.steps, member.final_answer)
        return (
            f'{{"id": "{trace_id}", "prompts": {encode_json_str(prompts)}, '
            f'"final_answer": {encode_json_str(member.final_answer)}, '
            f'"metadata": {metadata_json(member)}}}\n'
        )
    if fmt == "training_example":
        response = render_response(member.steps, member.final_answer)
        return (
            f'{{"id": "{trace_id}", "prompt": {encode_json_str(member.prompt)}, '
            f'"response": {encode_json_str(response)}, '
            f'"final_answer": {encode_json_str(member.final_answer)}, '
            f'"metadata": {metadata_json(member)}}}\n'
        )
    if fmt == "chat":
        response = render_response(member.steps, member.final_answer)
        return (
            f'{{"id": "{trace_id}", "messages": [{{"role": "user", "content": '
            f'{encode_json_str(member.prompt)}}}, {{"role": "assistant", "content": '
            f"{encode_json_str(response)}}}], "
            f'"final_answer": {encode_json_str(member.final_answer)}, '
            f'"metadata": {metadata_json(member)}}}\n'
        )
    if fmt == "trace":
        return (
            f'{{"id": "{trace_id}", "created_at": "{member.created_at.isoformat()}", '
            f'"split": {encode_json_str(member.split)}, '
            f'"trace_version": {encode_json_str(member.trace_version)}, '
            f'"prompt": {encode_json_str(member.prompt)}, '
            f'"final_answer": {encode_json_str(member.final_answer)}, '
            f'"steps": {member.steps_json}, "meta": {member.meta_json}}}\n'
        )
    raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def format_record(fmt: str, member: MemberTrace) -> dict[str, Any]:
    """The record of format_line as a dict."""
    record: dict[str, Any] = json.loads(format_line(fmt, member))
    return record
