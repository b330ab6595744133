"""Test datasets: see tunix_rt.training.synthetic; plus reading the bare-run events file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunix_rt.training.synthetic import sft_records, write_dataset, write_spec

__all__ = ["read_events", "sft_records", "write_dataset", "write_spec"]


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
