"""A GRPO run's rollouts: the sampled completions its child writes every few steps.

The child writes `rollouts/step-<step:08d>.jsonl` in its attempt directory, one JSON object
per completion (contract in docs/training.md), then emits the event
`{"event": "rollouts", "step": N, "path": "rollouts/step-....jsonl", "count": K}`. The worker
applies it in the attempt's fenced transaction (worker/events.py): the step's rows replace
whatever an earlier attempt stored for that step (a resumed attempt samples the steps after
its checkpoint again), and the file becomes an artifact of the run.

A line that is not a completion (bad JSON, a missing field, a non-finite number) is skipped
and logged; text that no backend can store (NUL, lone surrogates) is replaced, and very long
text is cut, so one odd completion never costs the step's other rows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.db import bulk, models
from tunix_rt.db.types import utcnow
from tunix_rt.runs import artifacts

ROLLOUTS_DIR = artifacts.ROLLOUTS_DIR
MAX_FILE_BYTES = 64 * 1024 * 1024
# GRPOSpec allows 256 prompts x 64 generations per step.
MAX_ROWS_PER_STEP = 256 * 64
MAX_TEXT_CHARS = 50_000
MAX_REWARD_TERMS = 16

log = logging.getLogger(__name__)

Finite = Annotated[float, Field(allow_inf_nan=False)]


class RolloutRecord(BaseModel):
    """One line of a rollouts file."""

    model_config = ConfigDict(extra="ignore")

    prompt_index: int = Field(ge=0, le=2**31 - 1)
    generation: int = Field(ge=0, le=2**31 - 1)
    prompt: str
    expected: str = ""
    completion: str = ""
    answer: str | None = None
    correct: bool
    format_ok: bool
    rewards: dict[str, Finite] = Field(default_factory=dict, max_length=MAX_REWARD_TERMS)
    reward: Finite
    advantage: Finite


def default_path(step: int) -> str:
    return f"{ROLLOUTS_DIR}/step-{step:08d}.jsonl"


def storable(text: str) -> str:
    """Text both backends store: NUL and unpaired surrogates replaced, cut to MAX_TEXT_CHARS."""
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", "\ufffd")[:MAX_TEXT_CHARS]


def parse_lines(lines: list[str]) -> tuple[list[RolloutRecord], int]:
    """The completions of a rollouts file (the last one per prompt and generation) and the
    number of lines skipped."""
    by_key: dict[tuple[int, int], RolloutRecord] = {}
    skipped = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            record = RolloutRecord.model_validate(data)
        except (ValueError, ValidationError):
            skipped += 1
            continue
        by_key[(record.prompt_index, record.generation)] = record
    records = [by_key[key] for key in sorted(by_key)]
    if len(records) > MAX_ROWS_PER_STEP:
        skipped += len(records) - MAX_ROWS_PER_STEP
        records = records[:MAX_ROWS_PER_STEP]
    return records, skipped


def read_file(path: Path) -> list[str]:
    """The file's lines (blocking); OSError when it is missing or too large."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise OSError(f"{path.name} has {size} bytes, more than {MAX_FILE_BYTES}")
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def event_path(attempt_dir: Path, event: dict[str, Any]) -> str | None:
    """The rollouts file an event names, relative to the attempt directory; None when the
    event names no step or a path outside the attempt's rollouts directory."""
    step = event.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return None
    relpath = event.get("path") or default_path(step)
    if not isinstance(relpath, str) or Path(relpath).is_absolute():
        return None
    root = (attempt_dir / ROLLOUTS_DIR).resolve()
    try:
        (attempt_dir / relpath).resolve().relative_to(root)
    except ValueError:
        return None
    return Path(relpath).as_posix()


async def store_step(
    session: AsyncSession,
    run_id: uuid.UUID,
    fence: int,
    step: int,
    records: list[RolloutRecord],
) -> int:
    """Replace the step's rows with these (inside the attempt's fenced transaction)."""
    await session.execute(
        delete(models.RunRollout).where(
            models.RunRollout.run_id == run_id, models.RunRollout.step == step
        )
    )
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "run_id": run_id,
            "fence": fence,
            "step": step,
            "prompt_index": record.prompt_index,
            "generation": record.generation,
            "prompt": storable(record.prompt),
            "expected": storable(record.expected),
            "completion": storable(record.completion),
            "answer": None if record.answer is None else storable(record.answer),
            "correct": record.correct,
            "format_ok": record.format_ok,
            # bulk.insert_rows takes JSON columns as JSON text.
            "rewards": json.dumps({storable(k)[:64]: v for k, v in record.rewards.items()}),
            "reward": record.reward,
            "advantage": record.advantage,
            "created_at": now,
        }
        for record in records
    ]
    await bulk.insert_rows(session, models.RunRollout.__table__, rows)
    return len(rows)


async def apply_event(
    session: AsyncSession,
    run_id: uuid.UUID,
    fence: int,
    attempt_dir: Path,
    event: dict[str, Any],
) -> str | None:
    """Store the rows of a `rollouts` event; returns the file's path relative to the attempt
    directory (to register as an artifact), None when the event or its file is unusable."""
    relpath = event_path(attempt_dir, event)
    if relpath is None:
        log.warning("run %s: ignoring a rollouts event without a usable step/path", run_id)
        return None
    try:
        lines = await asyncio.to_thread(read_file, attempt_dir / relpath)
    except OSError as exc:
        log.warning("run %s: rollouts file %s unreadable: %s", run_id, relpath, exc)
        return None
    records, skipped = parse_lines(lines)
    if skipped:
        log.warning("run %s: %s: skipped %d bad rollout lines", run_id, relpath, skipped)
    await store_step(session, run_id, fence, int(event["step"]), records)
    return relpath
