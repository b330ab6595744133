"""Export formats: one JSON object per dataset member.

- `trace`: the stored trace, `{id, created_at, split, trace_version, prompt, final_answer,
  steps, meta}`.
- `tunix_sft`: the training contract (see the team brief): `{id, prompts, final_answer,
  metadata}` where `prompts` is the Gemma chat template with the reasoning as the response.
- `training_example`: the same text without a chat template, `{id, prompt, response,
  final_answer, metadata}`, for other trainers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

FORMATS = ("trace", "tunix_sft", "training_example")
SPLITS = ("train", "holdout", "all")


@dataclass(frozen=True)
class MemberTrace:
    """A dataset member with its trace payload, as read for export."""

    trace_id: str
    created_at: datetime
    split: str
    trace_version: str
    prompt: str
    final_answer: str
    steps: list[dict[str, Any]]
    meta: dict[str, Any]


def render_response(steps: list[dict[str, Any]], final_answer: str) -> str:
    """`Reasoning:\\n1. ..\\n2. ..\\nAnswer: X` (no Reasoning block without steps)."""
    ordered = sorted(steps, key=lambda s: int(s["i"]))
    lines = []
    if ordered:
        lines.append("Reasoning:")
        lines.extend(f"{n}. {s['content']}" for n, s in enumerate(ordered, start=1))
    lines.append(f"Answer: {final_answer}")
    return "\n".join(lines)


def render_sft_prompts(prompt: str, steps: list[dict[str, Any]], final_answer: str) -> str:
    return (
        f"<start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n"
        f"{render_response(steps, final_answer)}<end_of_turn>"
    )


def member_metadata(member: MemberTrace) -> dict[str, Any]:
    return {**member.meta, "trace_id": member.trace_id}


def format_record(fmt: str, member: MemberTrace) -> dict[str, Any]:
    if fmt == "tunix_sft":
        return {
            "id": member.trace_id,
            "prompts": render_sft_prompts(member.prompt, member.steps, member.final_answer),
            "final_answer": member.final_answer,
            "metadata": member_metadata(member),
        }
    if fmt == "training_example":
        return {
            "id": member.trace_id,
            "prompt": member.prompt,
            "response": render_response(member.steps, member.final_answer),
            "final_answer": member.final_answer,
            "metadata": member_metadata(member),
        }
    if fmt == "trace":
        return {
            "id": member.trace_id,
            "created_at": member.created_at.isoformat(),
            "split": member.split,
            "trace_version": member.trace_version,
            "prompt": member.prompt,
            "final_answer": member.final_answer,
            "steps": member.steps,
            "meta": member.meta,
        }
    raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def format_line(fmt: str, member: MemberTrace) -> str:
    return json.dumps(format_record(fmt, member), ensure_ascii=False) + "\n"
