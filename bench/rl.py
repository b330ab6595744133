"""GRPO vs continued SFT from the same SFT checkpoint, for about the same wall time.

1. A tiny from-scratch SFT run (300 steps, batch 16) on the task: the source checkpoint
   and the baseline evaluation (200 held-out prompts, greedy, exact match).
2. GRPO from that checkpoint (the training child with algorithm grpo, the source's
   checkpoint and tokenizer linked under init/ as the worker links them), N steps.
3. Continued SFT from the same checkpoint (weights and AdamW state, the data order going
   on) for about GRPO's training wall time: as many steps as the source run's step rate
   gives in that time, with a schedule that ends there (scored at the end of a schedule).
4. Each final checkpoint evaluated on the same holdout by the child's evaluate task.

Reported: exact match and tie accuracy (duel) of each, the paired McNemar p of each arm vs
the start and GRPO vs continued SFT, wall times and GRPO's reward curve.

    python bench/rl.py                                    # duel, 60 GRPO steps
    python bench/rl.py --task addition --grpo-steps 40 --lr 5e-5
    python bench/rl.py --source /tmp/bench-rl-XXXX/source --no-sft --lr 3e-4   # GRPO again
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tunix_rt.evaluations.stats import mcnemar_exact_p
from tunix_rt.training import synthetic

TRAIN_EXAMPLES = 2000
HOLDOUT_EXAMPLES = 200
SOURCE_STEPS = 300
SOURCE_BATCH = 16
EVAL = {"max_examples": HOLDOUT_EXAMPLES, "max_new_tokens": 64}


def child(spec: Path, log: Path) -> float:
    started = time.perf_counter()
    with log.open("w") as handle:
        result = subprocess.run(
            [sys.executable, "-m", "tunix_rt.training", str(spec)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        raise SystemExit(f"{spec} exited {result.returncode}:\n{log.read_text()[-3000:]}")
    return time.perf_counter() - started


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]


def metrics(run_dir: Path) -> dict[int, dict[str, float]]:
    merged: dict[int, dict[str, float]] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        event = json.loads(line)
        merged.setdefault(event["step"], {}).update(event["values"])
    return merged


def train_seconds(run_dir: Path, log_name: str) -> float:
    """Training wall time from the child's own "trained steps a..b in Xs" line."""
    for line in (run_dir / log_name).read_text().splitlines():
        if line.startswith("trained steps"):
            return float(line.rsplit(" in ", 1)[1].rstrip("s"))
    raise SystemExit(f"no training time in {run_dir / log_name}")


def evaluate(run_dir: Path, step: int) -> dict[str, Any]:
    """The child's evaluate task on checkpoint `step` of run_dir, into its own dir."""
    spec = json.loads((run_dir / "spec.json").read_text())
    job = run_dir / f"eval-{step}"
    job.mkdir()
    (job / "checkpoints").mkdir()
    (job / "checkpoints" / str(step)).symlink_to(run_dir / "checkpoints" / str(step))
    shutil.copy(run_dir / "tokenizer.model", job / "tokenizer.model")
    spec.update(run_dir=str(job), task="evaluate", grpo=None, init=None)
    spec["dataset"]["holdout_path"] = str(run_dir / "data" / "holdout.jsonl")
    spec["evaluation"] = {**EVAL, "checkpoint_step": step}
    (job / "spec.json").write_text(json.dumps(spec))
    child(job / "spec.json", job / "log.txt")
    return dict(json.loads((job / "eval.json").read_text()))


def summary_of(result: dict[str, Any]) -> dict[str, Any]:
    summary = result["summary"]
    ties = (summary.get("by_expected_answer") or {}).get("tie")
    return {
        "exact_match": summary["exact_match"],
        "format_ok": summary["format_ok"],
        "tie_accuracy": ties["exact_match"] if ties else None,
        "ties": ties["n"] if ties else 0,
        "n": summary["n"],
    }


def paired(baseline: dict[str, Any], candidate: dict[str, Any]) -> dict[str, Any]:
    right = {e["id"]: e["correct"] for e in baseline["examples"]}
    b = sum(1 for e in candidate["examples"] if right[e["id"]] and not e["correct"])
    c = sum(1 for e in candidate["examples"] if not right[e["id"]] and e["correct"])
    return {"right_to_wrong": b, "wrong_to_right": c, "mcnemar_p": mcnemar_exact_p(b, c)}


def accuracy_by_tenth(curve: dict[int, dict[str, float]], steps: int) -> list[float]:
    """Share of correct rollouts, averaged over each tenth of the GRPO steps."""
    width = max(1, steps // 10)
    chunks = [range(a, min(a + width, steps + 1)) for a in range(1, steps + 1, width)]
    return [round(sum(curve[s]["accuracy"] for s in c) / len(c), 3) for c in chunks]


def source_run(root: Path, args: argparse.Namespace, cache: str) -> Path:
    run_dir = root / "source"
    synthetic.write_dataset(run_dir, args.task, TRAIN_EXAMPLES, HOLDOUT_EXAMPLES, seed=args.seed)
    synthetic.write_spec(
        run_dir,
        hyperparameters={
            "max_steps": SOURCE_STEPS,
            "batch_size": SOURCE_BATCH,
            "save_every_steps": SOURCE_STEPS,
            "seed": args.seed,
        },
        evaluation=EVAL,
        jax_cache_dir=cache,
    )
    child(run_dir / "spec.json", run_dir / "log.txt")
    return run_dir


def grpo_run(root: Path, source: Path, args: argparse.Namespace, cache: str) -> Path:
    run_dir = root / "grpo"
    (run_dir / "init" / "checkpoints").mkdir(parents=True)
    (run_dir / "init" / "checkpoints" / str(SOURCE_STEPS)).symlink_to(
        source / "checkpoints" / str(SOURCE_STEPS)
    )
    (run_dir / "init" / "tokenizer.model").symlink_to(source / "tokenizer.model")
    (run_dir / "data").symlink_to(source / "data")
    path = synthetic.write_spec(
        run_dir,
        algorithm="grpo",
        tokenizer={"kind": "file", "path": "init/tokenizer.model"},
        hyperparameters={
            "max_steps": args.grpo_steps,
            "batch_size": args.batch,
            "learning_rate": args.lr,
            "warmup_fraction": 0.0,
            "save_every_steps": args.grpo_steps,
            "seed": args.seed,
        },
        evaluation={"max_examples": 0},
        jax_cache_dir=cache,
    )
    spec = json.loads(path.read_text())
    spec["grpo"] = {
        "num_generations": args.generations,
        "beta": args.beta,
        "temperature": args.temperature,
        "max_new_tokens": EVAL["max_new_tokens"],
        "rollout_every_steps": max(1, args.grpo_steps // 5),
    }
    spec["init"] = {"step": SOURCE_STEPS, "source_run_id": "source"}
    path.write_text(json.dumps(spec))
    child(path, run_dir / "log.txt")
    return run_dir


def continued_sft(root: Path, source: Path, steps: int, args: argparse.Namespace) -> Path:
    """The source run resumed (weights, AdamW state, data order) for `steps` more steps,
    under a schedule of SOURCE_STEPS + steps (the child resumes from checkpoints/)."""
    run_dir = root / "sft-continued"
    run_dir.mkdir()
    (run_dir / "data").symlink_to(source / "data")
    shutil.copy(source / "tokenizer.model", run_dir / "tokenizer.model")
    shutil.copytree(
        source / "checkpoints" / str(SOURCE_STEPS),
        run_dir / "checkpoints" / str(SOURCE_STEPS),
    )
    spec = json.loads((source / "spec.json").read_text())
    spec["run_dir"] = str(run_dir)
    spec["hyperparameters"]["max_steps"] = SOURCE_STEPS + steps
    spec["hyperparameters"]["save_every_steps"] = SOURCE_STEPS + steps
    spec["evaluation"] = {"max_examples": 0}
    (run_dir / "spec.json").write_text(json.dumps(spec))
    child(run_dir / "spec.json", run_dir / "log.txt")
    return run_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/rl.py")
    parser.add_argument("--task", default="high_card_duel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grpo-steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=8, help="GRPO prompts per step")
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--beta", type=float, default=0.04)
    parser.add_argument("--temperature", type=float, default=0.9)
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    parser.add_argument("--source", type=Path, help="a kept source run to start from again")
    parser.add_argument("--no-sft", action="store_true", help="GRPO only, vs the start")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-rl-"))
    cache = str(args.source.parent / "jax-cache" if args.source else root / "jax-cache")
    started = time.perf_counter()
    source = args.source.absolute() if args.source else source_run(root, args, cache)
    source_rate = SOURCE_STEPS / train_seconds(source, "log.txt")
    grpo = grpo_run(root, source, args, cache)
    grpo_s = train_seconds(grpo, "log.txt")
    start = json.loads((source / "eval.json").read_text())
    grpo_eval = evaluate(grpo, args.grpo_steps)
    curve = metrics(grpo)
    report: dict[str, Any] = {
        "task": args.task,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "start": summary_of(start),
        "grpo": {
            **summary_of(grpo_eval),
            "steps": args.grpo_steps,
            "train_s": round(grpo_s, 1),
            "vs_start": paired(start, grpo_eval),
            "reward_mean_first_last": [
                curve[1]["reward/mean"],
                curve[args.grpo_steps]["reward/mean"],
            ],
            "accuracy_by_tenth": accuracy_by_tenth(curve, args.grpo_steps),
        },
    }
    if not args.no_sft:
        sft_steps = max(1, round(grpo_s * source_rate))
        sft = continued_sft(root, source, sft_steps, args)
        sft_eval = evaluate(sft, SOURCE_STEPS + sft_steps)
        report["sft_continued"] = {
            **summary_of(sft_eval),
            "steps": sft_steps,
            "train_s": round(train_seconds(sft, "log.txt"), 1),
            "vs_start": paired(start, sft_eval),
        }
        report["grpo_vs_sft_continued"] = paired(sft_eval, grpo_eval)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=1))
    if args.keep:
        print(f"run directories kept in {root}", file=sys.stderr)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
