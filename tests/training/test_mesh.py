"""Precision and devices with the real child: a run sharded over XLA's forced host devices
(a data x model mesh) trains the same losses as one device; a bfloat16 run trains with
bfloat16 parameters and a float32 optimizer state and still evaluates; a mesh larger than
the devices is a clear exit 2."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.training.conftest import CHILD, child_env, metric_losses
from tests.training.datasets import write_dataset, write_spec

pytestmark = [pytest.mark.slow, pytest.mark.training]

STEPS = 20
HP = {"max_steps": STEPS, "save_every_steps": 100, "batch_size": 8, "seed": 3}
EVAL = {"max_examples": 2, "max_new_tokens": 16}
FORCED_DEVICES = 4
SPLIT_RE = re.compile(r"; (\d+) of (\d+) parameter arrays split over it\)")


def make_run(root: Path, name: str, cache: str, **hyperparameters: Any) -> Path:
    run_dir = root / name
    write_dataset(run_dir, "high_card_duel", train_count=200, holdout_count=EVAL["max_examples"])
    write_spec(
        run_dir,
        hyperparameters={**HP, **hyperparameters},
        evaluation=EVAL,
        jax_cache_dir=cache,
    )
    return run_dir


def run_on(run_dir: Path, forced_devices: int | None) -> subprocess.CompletedProcess[str]:
    """The child with XLA's forced host device count (None: the plain single CPU device)."""
    env = child_env()
    env.pop("XLA_FLAGS", None)
    if forced_devices is not None:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={forced_devices}"
    return subprocess.run(
        [*CHILD, str(run_dir / "spec.json")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def checkpoint_dtypes(checkpoint: Path, item: str) -> dict[str, str]:
    """Orbax's metadata of one saved item: dotted leaf path -> dtype name."""
    import jax
    import orbax.checkpoint as ocp

    metadata: Any = ocp.PyTreeCheckpointer().metadata(checkpoint / item)
    tree = getattr(metadata, "item_metadata", metadata)
    tree = getattr(tree, "tree", tree)
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {
        ".".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): str(leaf.dtype)
        for path, leaf in flat
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, jax_cache_dir: str) -> dict[int, float]:
    """float32 on one device, without the forced device count: the losses to match."""
    run_dir = make_run(tmp_path_factory.mktemp("mesh"), "one-device", jax_cache_dir)
    done = run_on(run_dir, None)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "float32 parameters on one device (cpu)" in done.stdout
    losses = metric_losses(run_dir)
    assert sorted(losses) == list(range(1, STEPS + 1))
    return losses


def test_a_data_by_model_mesh_trains_the_same_losses_as_one_device(
    reference: dict[int, float], tmp_path: Path, jax_cache_dir: str
) -> None:
    run_dir = make_run(tmp_path, "mesh-2x2", jax_cache_dir, mesh={"data": 2, "model": 2})
    done = run_on(run_dir, FORCED_DEVICES)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "float32 parameters on mesh data 2 x model 2 (4 cpu devices;" in done.stdout
    split = SPLIT_RE.search(done.stdout)
    assert split is not None and 0 < int(split[1]) <= int(split[2]), done.stdout[:2000]
    losses = metric_losses(run_dir)
    assert sorted(losses) == sorted(reference)
    deltas = {step: abs(losses[step] - reference[step]) for step in reference}
    assert max(deltas.values()) <= 1e-5, deltas
    assert json.loads((run_dir / "eval.json").read_text())["summary"]["n"] == EVAL["max_examples"]


def test_bfloat16_on_a_mesh_trains_with_a_float32_optimizer_state(
    reference: dict[int, float], tmp_path: Path, jax_cache_dir: str
) -> None:
    # 2x2, not 4x1: with a size-1 axis XLA picks other output shardings after the first
    # step and the train step compiles twice (docs/training.md), which costs test time.
    run_dir = make_run(
        tmp_path, "bf16-2x2", jax_cache_dir, dtype="bfloat16", mesh={"data": 2, "model": 2}
    )
    done = run_on(run_dir, FORCED_DEVICES)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "bfloat16 parameters on mesh data 2 x model 2 (4 cpu devices;" in done.stdout
    losses = metric_losses(run_dir)
    assert sorted(losses) == list(range(1, STEPS + 1))
    assert all(math.isfinite(v) for v in losses.values())
    first, last = [losses[s] for s in range(1, 6)], [losses[s] for s in range(STEPS - 4, STEPS + 1)]
    assert sum(last) / 5 < sum(first) / 5 - 1.0, losses
    # The same model in bfloat16 follows the float32 curve closely (0.012 seen at most).
    assert max(abs(losses[s] - reference[s]) for s in reference) < 0.1
    # Tunix still finds the learning rate inside the wrapped optimizer state.
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(r["values"].get("learning_rate", 0) > 0 for r in rows if "loss" in r["values"])
    checkpoint = run_dir / "checkpoints" / str(STEPS)
    assert set(checkpoint_dtypes(checkpoint, "model_params").values()) == {"bfloat16"}
    optimizer = checkpoint_dtypes(checkpoint, "optimizer_state")
    master = {k: v for k, v in optimizer.items() if ".master." in k}
    moments = {k: v for k, v in optimizer.items() if ".mu." in k or ".nu." in k}
    assert master and moments
    assert set(master.values()) == set(moments.values()) == {"float32"}
    summary = json.loads((run_dir / "eval.json").read_text())["summary"]
    assert summary["n"] == EVAL["max_examples"]


def test_a_mesh_larger_than_the_devices_exits_2_naming_the_count(
    tmp_path: Path, jax_cache_dir: str
) -> None:
    run_dir = make_run(tmp_path, "too-big", jax_cache_dir, mesh={"data": 4, "model": 2})
    done = run_on(run_dir, FORCED_DEVICES)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "mesh 4x2 needs 8 devices but this process sees 4 cpu devices" in done.stderr
    assert not (run_dir / "checkpoints").exists()
    # A dry run on the same worker says so too, instead of `valid: true`.
    write_spec(run_dir, hyperparameters={**HP, "mesh": {"data": 2, "model": 1}}, dry_run=True)
    done = run_on(run_dir, None)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "mesh 2x1 needs 2 devices but this process sees 1 cpu device\n" in done.stderr
    assert not (run_dir / "dry_run.json").exists()
