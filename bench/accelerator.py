"""Speed on an accelerator: a Qwen3-0.6B-shaped checkpoint through the real training child.

A config.json of Qwen3-0.6B's shape (or, with --tiny, a tiny one) and random weights are
written as safetensors by this script (names and shapes from tunix_rt.hf.config, so the
child's header check passes); the tokenizer and chat template are the tiny Qwen3 fixture's
(tests/fixtures/hf/qwen3_tied: 403 ids, fewer than the embedding's rows). Each leg is
`python -m tunix_rt.training spec.json` (LoRA rank 16 or full fine-tune, float32 or
bfloat16) on chat examples of almost exactly --seq-length tokens, its events read from
the worker's pipe (TUNIX_RT_EVENTS_FD) with their arrival times. Reported per leg:
steady tokens/s (median step after the first, from the child's metrics), model FLOPs
utilisation (6N for full fine-tuning, 4N for LoRA (frozen weights need no weight
gradient), plus attention and adapter terms) against the device's peak (table below) and
against a matmul measured in this run (the baseline; on CPU the only peak), time to
first step (start -> first step done: import, load, compile) with a fresh JAX
compilation cache, and once more on the cache the first leg filled, and evaluation
examples/s at --new-tokens new tokens (steady: after the first batch of 32, which pays
the sampler's compile). Targets for one H100/H200 are printed next to the figures.

    python bench/accelerator.py                 # full size on a GPU/TPU, --tiny on CPU
    python bench/accelerator.py --tiny --steps 3 --modes lora --dtypes float32 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from tunix_rt.hf import config as hf_config

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER_FIXTURE = ROOT / "tests" / "fixtures" / "hf" / "qwen3_tied"
LORA_RANK = 16
# Dense TFLOP/s per chip: (bfloat16, float32 matmuls as the device runs them: TF32 on GPUs).
PEAK_TFLOPS = {"H100": (989.0, 494.0), "H200": (989.0, 494.0), "A100": (312.0, 156.0)}
TARGET_MFU_BF16_LORA = 0.40  # one H100/H200, batch 64 x 128 tokens
TARGET_EVAL_EX_PER_S = 20.0  # at 48 new tokens
QWEN3_0P6B = {
    "vocab_size": 151936,
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
}
TINY = {**QWEN3_0P6B, "vocab_size": 512, "hidden_size": 128, "intermediate_size": 384}
TINY.update(num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2, head_dim=32)
PROBE = r"""
import json, sys, time
import jax, jax.numpy as jnp
device = jax.devices()[0]
n, seconds = int(sys.argv[1]), float(sys.argv[2])
peaks = {}
for name in ("float32", "bfloat16"):
    a = jnp.ones((n, n), getattr(jnp, name))
    mm = jax.jit(lambda x: x @ x)
    mm(a).block_until_ready()
    runs, started = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - started < seconds:
        mm(a).block_until_ready()
        runs += 1
    peaks[name] = 2 * n**3 * runs / (time.perf_counter() - started) / 1e12
print(json.dumps({"platform": device.platform, "kind": device.device_kind, "matmul": peaks}))
"""


def probe_device(tiny: bool) -> dict[str, Any]:
    """The first device and a measured matmul peak (TFLOP/s per dtype), in a child process
    so that this one never holds the accelerator the training child needs."""
    size, seconds = ("1024", "0.5") if tiny else ("8192", "1.0")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, size, seconds], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def table_peak(kind: str, dtype: str) -> float | None:
    for name, (bf16, fp32) in PEAK_TFLOPS.items():
        if name.lower() in kind.lower():
            return bf16 if dtype == "bfloat16" else fp32
    return None


def write_model(directory: Path, sizes: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """config.json (the fixture's Qwen3 config with these sizes), random float32 weights in
    model.safetensors, and the fixture's tokenizer files."""
    from safetensors.numpy import save_file

    config = json.loads((TOKENIZER_FIXTURE / "config.json").read_text(encoding="utf-8"))
    config.update(sizes, tie_word_embeddings=True, dtype="float32")
    config["layer_types"] = ["full_attention"] * sizes["num_hidden_layers"]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in hf_config.expected_tensors(hf_config.architecture_of(config)).items():
        if name.endswith("norm.weight"):
            tensors[name] = np.ones(shape, np.float32)
        else:
            tensors[name] = (rng.standard_normal(shape, np.float32) * 0.02).astype(np.float32)
    save_file(tensors, str(directory / "model.safetensors"))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TOKENIZER_FIXTURE / name, directory / name)
    return config


def chat_record(index: int, digits: int, rng: np.random.Generator) -> dict[str, Any]:
    numbers = rng.integers(0, 10, digits)
    answer = str(int(numbers.sum()))
    return {
        "id": f"sum-{index}",
        "messages": [
            {"role": "user", "content": "Sum the digits: " + " ".join(map(str, numbers))},
            {"role": "assistant", "content": f"Answer: {answer}"},
        ],
        "final_answer": answer,
        "metadata": {"task": "digit_sum"},
    }


def write_dataset(run_dir: Path, model_dir: Path, seq: int, train: int, holdout: int) -> int:
    """Chat records whose rendering fills (nearly) seq tokens; returns their token count."""
    from tunix_rt.training import data, tokenizer

    tok = tokenizer.load_tokenizer(model_dir)

    def length(digits: int) -> int:
        record = chat_record(0, digits, np.random.default_rng(0))
        example = data.parse_record(record, "probe")
        return len(tokenizer.encode_example(tok, example).tokens)

    digits = 1
    while length(digits + 1) <= seq - 2:
        digits += 1
    rng = np.random.default_rng(1)
    records = [chat_record(i, digits, rng) for i in range(train + holdout)]
    (run_dir / "data").mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", records[:train]), ("holdout", records[train:])):
        text = "".join(json.dumps(r) + "\n" for r in rows)
        (run_dir / "data" / f"{name}.jsonl").write_text(text, encoding="utf-8")
    return length(digits)


def train_flops_per_token(config: dict[str, Any], seq: int, lora: bool) -> float:
    d, ff, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    q, kv = config["num_attention_heads"] * config["head_dim"], config["num_key_value_heads"]
    kv *= config["head_dim"]
    shapes = [(d, q), (d, kv), (d, kv), (q, d), (d, ff), (d, ff), (ff, d)]
    matmul = layers * sum(a * b for a, b in shapes) + config["vocab_size"] * d
    attention = 12 * layers * q * seq  # QK^T and AV, forward + backward (PaLM's count)
    if not lora:
        return 6 * matmul + attention
    adapters = layers * sum(LORA_RANK * (a + b) for a, b in shapes)
    return 4 * matmul + 6 * adapters + attention


class Leg:
    """One child run: its events (pipe) and stdout lines, each with its arrival time."""

    def __init__(self, spec: Path, timeout_s: float) -> None:
        read_fd, write_fd = os.pipe()
        env = {**os.environ, "TUNIX_RT_EVENTS_FD": str(write_fd), "PYTHONUNBUFFERED": "1"}
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.lines: list[tuple[float, str]] = []
        self.started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "tunix_rt.training", str(spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        readers = [
            threading.Thread(target=self._read, args=(os.fdopen(read_fd), self.events, True)),
            threading.Thread(target=self._read, args=(process.stdout, self.lines, False)),
        ]
        for reader in readers:
            reader.start()
        try:
            self.code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            self.code = process.wait()
            self.lines.append((timeout_s, f"bench: killed after {timeout_s:.0f} s"))
        for reader in readers:
            reader.join()

    def _read(self, stream: Any, into: list[Any], parse: bool) -> None:
        with stream:
            for line in stream:
                at = time.perf_counter() - self.started
                into.append((at, json.loads(line) if parse else line.rstrip("\n")))

    def phase_at(self, phase: str) -> float | None:
        return next((t for t, e in self.events if e.get("phase") == phase), None)

    def figures(self, flops_per_token: float) -> dict[str, Any]:
        metrics = [e for _, e in self.events if e["event"] == "metric"]
        rates = [
            (e["step"], e["values"]["tokens_per_s"])
            for e in metrics
            if e["values"].get("tokens_per_s")
        ]
        steady = [v for step, v in rates if step > 1] or [v for _, v in rates]
        tokens_per_s = statistics.median(steady) if steady else None
        evaluated = [
            (t, int(line.split()[1].split("/")[0]))
            for t, line in self.lines
            if line.startswith("evaluated ")
        ]
        summary = next((e["summary"] for _, e in self.events if e["event"] == "eval"), {})
        eval_rate = None
        if len(evaluated) >= 2:  # after the first batch, which pays the sampler's compile
            (t0, n0), (t1, n1) = evaluated[0], evaluated[-1]
            eval_rate = (n1 - n0) / max(t1 - t0, 1e-9)
        return {
            "loss": [e["values"]["loss"] for e in metrics],
            "tokens_per_s": tokens_per_s,
            "model_tflops": tokens_per_s * flops_per_token / 1e12 if tokens_per_s else None,
            "load_s": self.phase_at("compile"),
            "first_step_s": self.phase_at("train"),
            "eval_examples": summary.get("n"),
            "eval_wall_s": summary.get("wall_s"),
            "eval_examples_per_s": eval_rate,
            # Over the whole evaluation, the first batch's compile included.
            "eval_examples_per_s_all": (
                summary["n"] / summary["wall_s"] if summary.get("wall_s") else None
            ),
        }


def run_leg(
    root: Path, name: str, model: Path, args: argparse.Namespace, mode: str, dtype: str, cache: Path
) -> Leg:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    shutil.copytree(root / "data", run_dir / "data")
    hp = {
        "max_steps": args.steps,
        "batch_size": args.batch_size,
        "max_seq_length": args.seq_length,
        "save_every_steps": args.steps,
        "keep_checkpoints": 1,
        "learning_rate": 1e-4,
        "lora_rank": LORA_RANK if mode == "lora" else None,
        "dtype": dtype,
    }
    spec = {
        "run_id": name,
        "run_dir": str(run_dir),
        "dataset": {"key": "digit-sum", "format": "chat"},
        "model": {"family": "qwen3", "path": str(model)},
        "tokenizer": {"kind": "hf", "path": str(model)},
        "hyperparameters": hp,
        "evaluation": {"max_examples": args.eval_examples, "max_new_tokens": args.new_tokens},
        "jax_cache_dir": str(cache),
    }
    (run_dir / "spec.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    leg = Leg(run_dir / "spec.json", args.timeout)
    if leg.code != 0:
        tail = "\n".join(line for _, line in leg.lines[-40:])
        raise SystemExit(f"{name}: the training child exited {leg.code}:\n{tail}")
    return leg


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


HEADER = (
    f"{'mode':<6}{'dtype':<10}{'tok/s':>10}{'TFLOP/s':>9}{'MFU peak':>9}{'MFU mm':>8}"
    f"{'load s':>8}{'1st step s':>11}{'cached':>8}{'eval ex/s':>10}"
)
LEGEND = (
    "MFU peak: against the device table (bf16 / TF32 dense); MFU mm: against the matmul "
    "measured above (the baseline). load s: start -> model built; 1st step s: start -> "
    "first step done, fresh compilation cache; cached: the same on the cache the first leg "
    "filled. eval ex/s: after the first batch of 32 (which compiles)."
)


def row_line(r: dict[str, Any]) -> str:
    return (
        f"{r['mode']:<6}{r['dtype']:<10}{fmt(r['tokens_per_s'], ',.0f'):>10}"
        f"{fmt(r['model_tflops'], '.3f'):>9}{fmt(r['mfu_peak'], '.1%'):>9}"
        f"{fmt(r['mfu_matmul'], '.1%'):>8}{fmt(r['load_s'], '.1f'):>8}"
        f"{fmt(r['first_step_s'], '.1f'):>11}{fmt(r.get('first_step_warm_s'), '.1f'):>8}"
        f"{fmt(r['eval_examples_per_s'], '.1f'):>10}"
    )


def verdict(results: list[dict[str, Any]], device: dict[str, Any], args: Any) -> str:
    target = next((r for r in results if (r["mode"], r["dtype"]) == ("lora", "bfloat16")), None)
    line = (
        f"targets, one H100/H200: >= {TARGET_MFU_BF16_LORA:.0%} MFU for bfloat16 LoRA at batch "
        f"64 x 128; evaluation >= {TARGET_EVAL_EX_PER_S:.0f} examples/s at 48 new tokens"
    )
    comparable = args.batch_size == 64 and args.seq_length == 128 and args.new_tokens == 48
    if args.tiny or table_peak(device["kind"], "bfloat16") is None or not comparable:
        return line + " (not applicable to this device or size)"
    if target is None:
        return line + " (no bfloat16 LoRA leg run)"
    mfu_ok = (target["mfu_peak"] or 0) >= TARGET_MFU_BF16_LORA
    eval_ok = (target["eval_examples_per_s"] or 0) >= TARGET_EVAL_EX_PER_S
    return line + f": MFU {'met' if mfu_ok else 'NOT met'}, eval {'met' if eval_ok else 'NOT met'}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny config (default without GPU/TPU)")
    parser.add_argument("--modes", default="lora,full")
    parser.add_argument("--dtypes", default="bfloat16,float32")
    parser.add_argument("--steps", type=int, default=None, help="30 full size, 10 tiny")
    parser.add_argument("--batch-size", type=int, default=None, help="64 full size, 8 tiny")
    parser.add_argument("--seq-length", type=int, default=None, help="128 full size, 64 tiny")
    parser.add_argument("--eval-examples", type=int, default=None, help="96 full, 64 tiny")
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--no-warm-cache", action="store_true", help="skip the cached rerun")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per leg")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    device = probe_device(tiny=True)
    args.tiny = args.tiny or device["platform"] == "cpu"
    if not args.tiny:
        device = probe_device(tiny=False)
    args.steps = args.steps or (10 if args.tiny else 30)
    args.batch_size = args.batch_size or (8 if args.tiny else 64)
    args.seq_length = args.seq_length or (64 if args.tiny else 128)
    if args.eval_examples is None:
        args.eval_examples = 64 if args.tiny else 96
    legs = [(m, d) for m in args.modes.split(",") for d in args.dtypes.split(",")]
    report: dict[str, Any] = {"device": device, "tiny": args.tiny, "legs": []}
    with tempfile.TemporaryDirectory(prefix="tunix-rt-accel-bench-") as tmp:
        root = Path(tmp)
        model = root / "model"
        config = write_model(model, TINY if args.tiny else QWEN3_0P6B)
        shapes = hf_config.expected_tensors(hf_config.architecture_of(config)).values()
        report["parameters"] = sum(int(np.prod(s)) for s in shapes)
        tokens = write_dataset(
            root, model, args.seq_length, args.batch_size * 4, args.eval_examples
        )
        print(
            f"device: {device['kind']} ({device['platform']}); measured matmul "
            + ", ".join(f"{k} {v:.3f} TFLOP/s" for k, v in device["matmul"].items())
        )
        print(
            f"model: {'tiny' if args.tiny else 'Qwen3-0.6B'}-shaped qwen3, "
            f"{report['parameters']:,} parameters (written in {time.perf_counter() - started:.0f}"
            f" s); batch {args.batch_size} x {args.seq_length} tokens (examples of {tokens}), "
            f"{args.steps} steps; evaluation {args.eval_examples} examples x {args.new_tokens} "
            f"new tokens\n\n{HEADER}",
            flush=True,
        )
        for mode, dtype in legs:
            name = f"{mode}-{dtype}"
            cache = root / f"cache-{name}"
            flops = train_flops_per_token(config, args.seq_length, mode == "lora")
            row = {"mode": mode, "dtype": dtype}
            row.update(run_leg(root, name, model, args, mode, dtype, cache).figures(flops))
            if not args.no_warm_cache and not report["legs"]:
                warm = run_leg(root, name + "-warm", model, args, mode, dtype, cache)
                row["first_step_warm_s"] = warm.figures(flops)["first_step_s"]
            peak, achieved = table_peak(device["kind"], dtype), row["model_tflops"]
            row["mfu_peak"] = achieved / peak if achieved and peak else None
            row["mfu_matmul"] = achieved / device["matmul"][dtype] if achieved else None
            report["legs"].append(row)
            print(row_line(row), flush=True)
            if args.json:  # after every leg: a run cut short still leaves its figures
                args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"{LEGEND}\n{verdict(report['legs'], device, args)}")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
