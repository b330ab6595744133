"""Model outputs as traces: a generated response's numbered lines become reasoning steps.

Shared by the traces stored from evaluations (worker/events.py) and from GRPO rollouts
(runs/rollouts.py), so both read a completion the same way.
"""

from __future__ import annotations

import re
from typing import Any

STEP_LINE_RE = re.compile(r"^\s*(\d+)[.)]\s+(.+?)\s*$")
NO_ANSWER = "(no answer)"
TRACE_VERSION = "1.0"


def steps_from_generation(generated: str) -> list[dict[str, Any]]:
    """ "1. text" lines of a generated response become steps; else one step with it all."""
    steps: list[dict[str, Any]] = []
    for line in generated.splitlines():
        match = STEP_LINE_RE.match(line)
        if match:
            steps.append({"i": len(steps), "type": "reasoning", "content": match.group(2)})
    if not steps:
        text = generated.strip() or NO_ANSWER
        steps = [{"i": 0, "type": "generation", "content": text}]
    return steps
