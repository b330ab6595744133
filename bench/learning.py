"""Learning benchmark: does a from-scratch tiny model learn the built-in tasks?

Each (task, steps) cell is one complete run of the real training child (its own full
learning-rate schedule, scored only at the end), on generated traces, with 200 held-out
prompts that never occur in training, greedy decoding and exact match of the answer.

    python bench/learning.py                     # duel, addition, multiplication at 300 steps
    python bench/learning.py --tasks high_card_duel --steps 100,200,300
    python bench/learning.py --tasks high_card_duel --steps 100 --quick   # ~30 s smoke run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tunix_rt.training import synthetic

TASKS = ("high_card_duel", "addition", "multiplication")
TRAIN_EXAMPLES = 2000
HOLDOUT_EXAMPLES = 200


def run_cell(
    root: Path, task: str, steps: int, args: argparse.Namespace, cache: str
) -> dict[str, Any]:
    run_dir = root / f"{task}-{steps}-s{args.seed}"
    holdout = 50 if args.quick else HOLDOUT_EXAMPLES
    synthetic.write_dataset(run_dir, task, TRAIN_EXAMPLES, holdout, seed=args.seed)
    spec = synthetic.write_spec(
        run_dir,
        model={"preset": args.preset},
        hyperparameters={
            "max_steps": steps,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "save_every_steps": steps,
            "keep_checkpoints": 1,
        },
        evaluation={"max_examples": holdout, "max_new_tokens": args.max_new_tokens},
        jax_cache_dir=cache,
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "tunix_rt.training", str(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"{task} {steps} steps failed ({result.returncode}):\n{result.stderr[-3000:]}"
        )
    summary = json.loads((run_dir / "eval.json").read_text())["summary"]
    train_s = next(
        float(line.rsplit(" in ", 1)[1].rstrip("s"))
        for line in result.stdout.splitlines()
        if line.startswith("trained steps")
    )
    classes = summary.get("by_expected_answer", {})
    return {
        "task": task,
        "preset": args.preset,
        "steps": steps,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "exact_match": summary["exact_match"],
        "format_ok": summary["format_ok"],
        "n": summary["n"],
        "per_class": {k: round(v["exact_match"], 3) for k, v in classes.items()}
        if len(classes) <= 5
        else None,
        "train_s": round(train_s, 1),
        "wall_s": round(wall, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--steps", default="300", help="comma list, one full run each")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", choices=("tiny", "small"), default="tiny")
    parser.add_argument("--quick", action="store_true", help="50 held-out prompts")
    # Addition responses run to ~70 tokens (digits are split): 64 would cut answers off.
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    steps = [int(s) for s in args.steps.split(",") if s]
    rows = []
    with tempfile.TemporaryDirectory(prefix="tunix-rt-learning-") as tmp:
        root = Path(tmp)
        cache = str(root / "jax-cache")
        print(
            f"{'task':<16}{'steps':>6}{'batch':>6}{'exact':>8}{'format':>8}"
            f"{'train s':>9}{'wall s':>8}  per class",
            flush=True,
        )
        for task in tasks:
            for count in steps:
                row = run_cell(root, task, count, args, cache)
                rows.append(row)
                print(
                    f"{task:<16}{count:>6}{args.batch_size:>6}{row['exact_match']:>8.3f}"
                    f"{row['format_ok']:>8.3f}{row['train_s']:>9.1f}{row['wall_s']:>8.1f}"
                    f"  {row['per_class'] or ''}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
