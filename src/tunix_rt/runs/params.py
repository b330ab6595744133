"""A run's resolved parameters: its spec.json flattened to dotted keys, paths hidden.

The spec the child trained with is the truth: the newest attempt's spec.json (the current
attempt's directory first, since a running attempt registers its files only when it ends;
then the registered spec.json artifact). A run no attempt has materialized yet shows the
spec the worker would build from its request (materialize.build_spec), so a pending run's
parameters read the same as after it starts. spec.json holds no server path of its own
(run_dir is "."), but a model or tokenizer path is the one the user gave: those are shown
relative to the configured roots, and anything still absolute keeps only its last part.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.runs import artifacts, downloads, materialize, queue
from tunix_rt.runs.schema import hide_roots
from tunix_rt.settings import Settings

SPEC_FILE = "spec.json"
SPEC_MAX_BYTES = 1024 * 1024
HIDDEN_PATH_LABEL = "<path>"

Source = Literal["spec.json", "request"]
Labels = list[tuple[re.Pattern[str], str]]


@dataclass(frozen=True)
class SpecPlace:
    """Where to look for the spec, read from the database before any file I/O."""

    run_id: uuid.UUID
    candidates: list[str]  # relpaths under the run directory, newest first
    fallback: dict[str, Any]  # the spec the worker would build, or the bare request


async def locate_spec(session: AsyncSession, run_id: uuid.UUID, settings: Settings) -> SpecPlace:
    run = await queue.read_run(session, run_id)
    candidates: list[str] = []
    if run.fence > 0:
        candidates.append(f"{artifacts.attempt_dir_of(run.fence)}/{SPEC_FILE}")
    registered = await session.scalar(
        select(models.RunArtifact.relpath).where(
            models.RunArtifact.run_id == run_id, models.RunArtifact.name == SPEC_FILE
        )
    )
    if registered and registered not in candidates:
        candidates.append(str(registered))
    try:
        fallback = materialize.build_spec(
            run, settings, await materialize.model_run_of(session, run)
        )
    except (errors.ValidationFailed, errors.NotFound):
        # The model path no longer lies under a configured root, or the run an init_from
        # chain starts at is gone: show what was asked for.
        fallback = {k: v for k, v in run.request.items() if k != "retry_of"}
    return SpecPlace(run_id=run.id, candidates=candidates, fallback=fallback)


def read_spec_file(run_dir: Path, relpath: str) -> dict[str, Any] | None:
    """The spec at relpath, None when absent, too large or not (yet) a complete object."""
    try:
        handle, size = downloads.open_regular_file(downloads.resolve_inside(run_dir, relpath))
    except (errors.NotFound, OSError):
        return None
    with handle:
        if size > SPEC_MAX_BYTES:
            return None
        raw = handle.read()
    try:
        data = json.loads(raw)
    except ValueError:
        return None  # materialize writes it in one go, but a reader can still race it
    return data if isinstance(data, dict) else None


def resolve_spec(artifact_root: Path, place: SpecPlace) -> tuple[dict[str, Any], Source]:
    """(spec, source); blocking file reads, run outside the event loop."""
    run_dir = downloads.run_directory(artifact_root, place.run_id)
    for relpath in place.candidates:
        spec = read_spec_file(run_dir, relpath)
        if spec is not None:
            return spec, "spec.json"
    return place.fallback, "request"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}, "c": [1, 2]} -> {"a.b": 1, "c": [1, 2]}; lists stay values."""
    if not isinstance(value, dict):
        return {prefix: value}
    if not value and prefix:
        return {prefix: {}}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def hide_path(value: Any, labels: Labels) -> Any:
    if isinstance(value, list):
        return [hide_path(item, labels) for item in value]
    if not isinstance(value, str):
        return value
    shown = hide_roots(value, labels) or value
    if os.path.isabs(shown):
        return f"{HIDDEN_PATH_LABEL}/{Path(shown).name}"
    return shown


def shown_params(spec: dict[str, Any], labels: Labels) -> dict[str, Any]:
    return {key: hide_path(value, labels) for key, value in sorted(flatten(spec).items())}
