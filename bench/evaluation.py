"""Evaluation speed: greedy generation of the tiny model on CPU, and the share of a training
run's wall time that evaluations during training take.

(a) In this process: the tiny preset (random init) and a tokenizer trained on a generated
    high-card-duel dataset; one GreedyGenerator (training/evaluate.py, Tunix's Sampler)
    generates EXAMPLES held-out prompts at NEW_TOKENS new tokens. The first (cold) call
    pays the sampler's compile and is reported on its own; then examples/s over warm calls.
(b) Two runs of the real training child on the same dataset and seed, each with its own
    fresh JAX compilation cache: STEPS steps with evaluations every EVAL_EVERY steps, and
    the same run without them (the baseline, measured in this bench run). Reported: the
    child's own figure ("evaluations during training: N in Xs (P% of the training time)"),
    the training time of both and their ratio, and the end-of-run evaluation's time (it
    reuses the sampler the evaluations during training compiled). Target: at most 15 %.
    Then the run with evaluations once more on the JAX compilation cache the first one
    filled, as a worker's later runs see it (--no-warm-cache skips it).

    python bench/evaluation.py
    python bench/evaluation.py --steps 300 --eval-every 100 --examples 64 --new-tokens 48
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tunix_rt.training import synthetic

TASK = "high_card_duel"
TRAIN_EXAMPLES = 1000
TARGET_SHARE = 0.15
WARM_CALLS = 3
EVALS_LINE = re.compile(
    r"evaluations during training: (\d+) in ([\d.]+)s \((\d+)% of the training time\)"
)
TRAINED_LINE = re.compile(r"trained steps \d+\.\.(\d+) in ([\d.]+)s")
EVAL_AT_LINE = re.compile(r"eval at step (\d+): .*\(([\d.]+)s\)")
FINAL_EVAL_LINE = re.compile(r"^eval: exact_match .*\(([\d.]+)s\)$", re.MULTILINE)


def vocab_size(tokenizer: Any) -> int:
    """The run tokenizer's vocab_size, or a bare SentencePiece processor's piece count."""
    size = getattr(tokenizer, "vocab_size", None)
    return int(size) if isinstance(size, int) else int(tokenizer.GetPieceSize())


def generation_speed(root: Path, examples: int, new_tokens: int) -> dict[str, Any]:
    from tunix_rt.training import data, evaluate, presets, sft, tokenizer
    from tunix_rt.training import spec as spec_lib

    run_dir = root / "generate"
    synthetic.write_dataset(run_dir, TASK, TRAIN_EXAMPLES, examples, seed=0)
    spec = spec_lib.load_spec(
        synthetic.write_spec(
            run_dir,
            evaluation={"max_examples": examples, "max_new_tokens": new_tokens},
            jax_cache_dir=str(run_dir / "jax-cache"),
        )
    )
    train = data.load_examples(spec.resolve(spec.dataset.train_path))
    holdout = data.load_examples(spec.resolve(spec.dataset.holdout_path or ""))[:examples]
    processor = tokenizer.prepare_tokenizer(spec, train)
    prompt_length = evaluate.plan_prompt_length(processor, holdout)
    sft.configure_jax(spec.jax_cache_dir)
    built = presets.build_model(spec, vocab_size(processor), prompt_length + new_tokens + 1)
    prompts = [e.prompt for e in holdout]
    started = time.perf_counter()
    generator = evaluate.GreedyGenerator(built, processor, new_tokens, prompt_length)
    generator(prompts)
    cold = time.perf_counter() - started
    warm = []
    for _ in range(WARM_CALLS):
        started = time.perf_counter()
        generator(prompts)
        warm.append(time.perf_counter() - started)
    median = statistics.median(warm)
    return {
        "examples": len(prompts),
        "new_tokens": new_tokens,
        "prompt_length": prompt_length,
        "cold_s": cold,
        "warm_s": median,
        "examples_per_s": len(prompts) / median,
    }


def training_run(
    root: Path, name: str, steps: int, every: int | None, cache: Path | None = None
) -> dict[str, Any]:
    """One child run; `cache`: a JAX compilation cache another run already filled."""
    run_dir = root / name
    synthetic.write_dataset(run_dir, TASK, TRAIN_EXAMPLES, 64, seed=0)
    evaluation: dict[str, Any] = {"max_examples": 32, "max_new_tokens": 48}
    if every:
        evaluation["every_steps"] = every
    spec = synthetic.write_spec(
        run_dir,
        hyperparameters={"max_steps": steps, "save_every_steps": steps, "keep_checkpoints": 1},
        evaluation=evaluation,
        jax_cache_dir=str(cache or run_dir / "jax-cache"),
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
        raise SystemExit(f"{name} run failed ({result.returncode}):\n{result.stderr[-3000:]}")
    trained = TRAINED_LINE.search(result.stdout)
    if trained is None:
        raise SystemExit(f"{name}: no 'trained steps' line in:\n{result.stdout[-3000:]}")
    final = FINAL_EVAL_LINE.search(result.stdout)
    row: dict[str, Any] = {
        "train_s": float(trained.group(2)),
        "wall_s": wall,
        "final_eval_s": float(final.group(1)) if final else None,
    }
    evals = EVALS_LINE.search(result.stdout)
    if every:
        if evals is None:
            raise SystemExit(f"{name}: no evaluations line in:\n{result.stdout[-3000:]}")
        row.update(
            evals=int(evals.group(1)),
            evals_s=float(evals.group(2)),
            line=evals.group(0),
            each=[
                (int(m.group(1)), float(m.group(2))) for m in EVAL_AT_LINE.finditer(result.stdout)
            ],
        )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument(
        "--no-warm-cache", action="store_true", help="skip the run on a warm JAX cache"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tunix-rt-eval-bench-") as tmp:
        root = Path(tmp)
        if not args.skip_generation:
            g = generation_speed(root, args.examples, args.new_tokens)
            print(
                f"(a) greedy generation, tiny on CPU: {g['examples']} examples x "
                f"{g['new_tokens']} new tokens (prompts padded to {g['prompt_length']})\n"
                f"    cold first call {g['cold_s']:.1f} s (sampler build + compile)\n"
                f"    warm call {g['warm_s']:.2f} s (median of {WARM_CALLS}): "
                f"{g['examples_per_s']:.1f} examples/s",
                flush=True,
            )
        if args.skip_training:
            return 0
        base = training_run(root, "no-evals", args.steps, None)
        with_evals = training_run(root, "evals", args.steps, args.eval_every)
        warm = None
        if not args.no_warm_cache:
            warm = training_run(
                root, "evals-warm", args.steps, args.eval_every, root / "evals" / "jax-cache"
            )
    print(
        f"(b) {args.steps}-step tiny run, evaluations every {args.eval_every} steps "
        f"(32-example subset, 48 new tokens), each run with a fresh JAX compilation cache",
        flush=True,
    )
    print_leg("with evaluations", with_evals, base)
    if warm is not None:
        print(
            "    the same run again on the JAX compilation cache the first one filled "
            "(a worker shares one cache across runs):",
            flush=True,
        )
        print_leg("with evaluations, warm cache", warm, base)
    return 0


def print_leg(label: str, leg: dict[str, Any], base: dict[str, Any]) -> None:
    share = leg["evals_s"] / leg["train_s"]
    each = ", ".join(f"step {s}: {t:.1f} s" for s, t in leg["each"])
    final = leg["final_eval_s"]
    base_final = base["final_eval_s"]
    print(
        f"    child: {leg['line']}\n"
        f"    each: {each}\n"
        f"    training time: {leg['train_s']:.1f} s {label}, {base['train_s']:.1f} s without "
        f"(ratio {leg['train_s'] / base['train_s']:.2f})\n"
        f"    share of the training time in evaluations: {100 * share:.1f} % "
        f"(target <= {100 * TARGET_SHARE:.0f} %: {'ok' if share <= TARGET_SHARE else 'ABOVE'})\n"
        f"    end-of-run evaluation: {final or 0:.1f} s {label}, {base_final or 0:.1f} s without\n"
        f"    process wall: {leg['wall_s']:.1f} s {label}, {base['wall_s']:.1f} s without",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
