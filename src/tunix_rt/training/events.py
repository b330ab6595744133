"""EventChannel: structured events for the worker, kept apart from free-form stdout.

The worker passes the write end of a pipe as TUNIX_RT_EVENTS_FD; run bare, events are
appended to run_dir/events.jsonl. Metric events are also appended to run_dir/metrics.jsonl.
Each event is one JSON line written with a single os.write so that a reader never sees a
half line (pipe writes below PIPE_BUF are atomic; our lines are far below it).
"""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path
from typing import Any

EVENTS_FD_ENV = "TUNIX_RT_EVENTS_FD"


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: send them as null rather than invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class EventChannel:
    def __init__(self, run_dir: Path, fd: int | None = None) -> None:
        self._lock = threading.Lock()
        self._metrics_path = run_dir / "metrics.jsonl"
        if fd is None:
            raw = os.environ.get(EVENTS_FD_ENV)
            fd = int(raw) if raw and raw.isdigit() else None
        self._owns_fd = fd is None
        if fd is None:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(run_dir / "events.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._fd = fd
        self._broken = False

    def emit(self, event: str, **fields: Any) -> None:
        payload = {"event": event, **_clean(fields)}
        line = (json.dumps(payload, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if event == "metric":
                with self._metrics_path.open("ab") as handle:
                    handle.write(line)
            if self._broken:
                return
            try:
                os.write(self._fd, line)
            except (BrokenPipeError, OSError):
                # The reader is gone (worker died): keep training; parent-death
                # detection ends the process through the normal graceful stop.
                self._broken = True

    def phase(self, phase: str, **fields: Any) -> None:
        self.emit("phase", phase=phase, **fields)

    def error(self, message: str) -> None:
        self.emit("error", message=message)

    def close(self) -> None:
        if self._owns_fd:
            os.close(self._fd)
