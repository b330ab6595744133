"""Fixtures for real training runs: a shared JAX compilation cache and a child runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.training.datasets import read_events

CHILD = [sys.executable, "-m", "tunix_rt.training"]


@pytest.fixture(scope="session")
def jax_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The session's shared compilation cache (tests/conftest.py), else a fresh one."""
    return os.environ.get("TUNIX_RT_JAX_CACHE_DIR") or str(tmp_path_factory.mktemp("jax-cache"))


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TUNIX_RT_EVENTS_FD", None)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_child(spec_path: Path, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CHILD, str(spec_path)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=child_env(),
        check=False,
    )


def start_child(spec_path: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            [*CHILD, str(spec_path)], stdout=handle, stderr=subprocess.STDOUT, env=child_env()
        )


def wait_for_event(
    run_dir: Path,
    predicate: Callable[[dict[str, Any]], bool],
    process: subprocess.Popen[bytes],
    timeout_s: float = 120,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for event in read_events(run_dir):
            if predicate(event):
                return event
        if process.poll() is not None:
            raise AssertionError(f"child exited {process.returncode} before the event")
        time.sleep(0.2)
    raise AssertionError(f"no matching event within {timeout_s}s")


def metric_losses(run_dir: Path) -> dict[int, float]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return {e["step"]: e["values"]["loss"] for e in map(json.loads, lines)}
