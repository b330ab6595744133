"""bench/accelerator.py's CPU path (the tiny config) runs end to end through the real
training child: one full fine-tuning leg of a few steps (cheaper to start on CPU than LoRA,
whose adapters are applied by an eager forward pass), fresh and on the compilation cache
it filled, and its figures come back positive in the printed table and in --json."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.conftest import child_env

pytestmark = [pytest.mark.slow, pytest.mark.training]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "accelerator.py"


def test_tiny_bench_reports_positive_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    command = [sys.executable, "-P", str(BENCH), "--tiny", "--steps", "3", "--modes", "full"]
    command += ["--dtypes", "float32", "--eval-examples", "2", "--new-tokens", "4"]
    result = subprocess.run(
        [*command, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        env=child_env(),
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["tiny"] is True and report["parameters"] > 0
    assert all(v > 0 for v in report["device"]["matmul"].values())
    [leg] = report["legs"]
    assert (leg["mode"], leg["dtype"]) == ("full", "float32")
    assert len(leg["loss"]) == 3 and all(math.isfinite(v) for v in leg["loss"])
    for key in ("tokens_per_s", "model_tflops", "mfu_matmul", "eval_examples_per_s_all"):
        assert leg[key] > 0, (key, leg)
    assert 0 < leg["load_s"] < leg["first_step_s"]
    # The compilation cache the first run filled makes the second one's first step sooner.
    assert 0 < leg["first_step_warm_s"] < leg["first_step_s"]
    assert leg["mfu_peak"] is None  # no table peak for a CPU
    row = next(line for line in result.stdout.splitlines() if line.startswith("full  float32"))
    assert f"{leg['tokens_per_s']:,.0f}" in row
    assert "targets, one H100/H200" in result.stdout
