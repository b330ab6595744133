"""A stand-in training child for UI end-to-end tests (TUNIX_RT_WORKER_COMMAND).

It follows the worker/training contract without JAX: reads spec.json, prints log lines on
stdout and stderr, emits phase/metric/checkpoint/eval events on TUNIX_RT_EVENTS_FD (or
run_dir/events.jsonl when run bare), writes checkpoints/<step>/, metrics.jsonl and eval.json,
and on SIGTERM writes a final checkpoint and exits 75 (graceful stop).
Step pace: FAKE_TRAIN_STEP_S seconds per step (default 0.1).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

EXIT_STOPPED = 75
STOP = {"requested": False}


def open_events(run_dir: Path) -> Any:
    raw = os.environ.get("TUNIX_RT_EVENTS_FD")
    if raw and raw.isdigit():
        return os.fdopen(int(raw), "w", buffering=1)
    return (run_dir / "events.jsonl").open("a", buffering=1)


def write_checkpoint(run_dir: Path, step: int, events: Any, keep: int) -> None:
    ckpt = run_dir / "checkpoints" / str(step)
    ckpt.mkdir(parents=True, exist_ok=True)
    (ckpt / "state.json").write_text(json.dumps({"step": step, "weights": [0.1] * 64}))
    emit(events, "checkpoint", step=step, path=f"checkpoints/{step}")
    steps = sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())
    for old in steps[:-keep]:
        for child in (run_dir / "checkpoints" / str(old)).iterdir():
            child.unlink()
        (run_dir / "checkpoints" / str(old)).rmdir()


def emit(events: Any, event: str, **fields: Any) -> None:
    events.write(json.dumps({"event": event, **fields}) + "\n")
    events.flush()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_eval(run_dir: Path, spec: dict[str, Any], events: Any) -> None:
    holdout = read_jsonl(run_dir / spec["dataset"]["holdout_path"])
    examples = []
    for record in holdout:
        meta = record.get("metadata", {})
        prompt_text = record["prompts"].split("<start_of_turn>model\n", 1)[0]
        examples.append(
            {
                "id": record["id"],
                "trace_id": meta.get("trace_id", record["id"]),
                "prompt": prompt_text,
                "expected_answer": meta.get("expected_answer", record["final_answer"]),
                "generated": f"Answer: {record['final_answer']}",
                "extracted_answer": record["final_answer"],
                "correct": True,
                "format_ok": True,
            }
        )
    n = len(examples)
    summary = {"exact_match": 1.0 if n else 0.0, "format_ok": 1.0 if n else 0.0, "n": n}
    (run_dir / "eval.json").write_text(json.dumps({"summary": summary, "examples": examples}))
    emit(events, "eval", summary=summary)


def main() -> int:
    spec_path = Path(sys.argv[1])
    spec = json.loads(spec_path.read_text())
    run_dir = spec_path.parent / spec["run_dir"]  # "." : the attempt directory
    hp = spec["hyperparameters"]
    events = open_events(run_dir)
    signal.signal(signal.SIGTERM, lambda *_: STOP.update(requested=True))
    pace_s = float(os.environ.get("FAKE_TRAIN_STEP_S", "0.1"))
    train = read_jsonl(run_dir / spec["dataset"]["train_path"])
    print(f"fake_train: run {spec['run_id']} with {len(train)} training records", flush=True)
    if spec.get("dry_run"):
        report = {"train_examples": len(train), "truncated": 0}
        (run_dir / "dry_run.json").write_text(json.dumps(report))
        emit(events, "dry_run", report=report)
        emit(events, "phase", phase="done")
        return 0
    max_steps = int(hp.get("max_steps") or 300)
    every = int(hp.get("save_every_steps") or 100)
    keep = int(hp.get("keep_checkpoints") or 2)
    existing = run_dir / "checkpoints"
    start = (
        max((int(p.name) for p in existing.iterdir() if p.name.isdigit()), default=0)
        if existing.is_dir()
        else 0
    )
    emit(events, "phase", phase="train", max_steps=max_steps, start_step=start)
    for step in range(start + 1, max_steps + 1):
        if STOP["requested"]:
            print(
                f"fake_train: SIGTERM at step {step - 1}, saving and stopping",
                file=sys.stderr,
                flush=True,
            )
            write_checkpoint(run_dir, step - 1, events, keep)
            return EXIT_STOPPED
        time.sleep(pace_s)
        loss = 3.0 * math.exp(-step / max(10, max_steps / 3)) + 0.2
        print(f"step {step}/{max_steps} loss={loss:.4f}", flush=True)
        if step % 10 == 0:
            print(f"fake_train: heartbeat at step {step}", file=sys.stderr, flush=True)
        values = {
            "loss": loss,
            "perplexity": math.exp(loss),
            "learning_rate": hp.get("learning_rate", 0.003),
            "grad_norm": 1.0,
            "tokens_per_s": 1000.0,
        }
        emit(events, "metric", step=step, values=values)
        with (run_dir / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps({"event": "metric", "step": step, "values": values}) + "\n")
        if step % every == 0 or step == max_steps:
            write_checkpoint(run_dir, step, events, keep)
    emit(events, "phase", phase="evaluate")
    write_eval(run_dir, spec, events)
    emit(events, "phase", phase="done")
    print("fake_train: done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
