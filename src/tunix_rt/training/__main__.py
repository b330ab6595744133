"""`python -m tunix_rt.training SPEC.json`: the training child program.

Exit codes (the worker contract): 0 success; 2 invalid spec or dataset; 3 training stack
not installed; 75 stopped gracefully (SIGTERM or parent death) after a final checkpoint;
anything else is a failure. Every non-zero exit sends an error event first.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

from tunix_rt.training import data, environment
from tunix_rt.training import spec as spec_lib
from tunix_rt.training.events import EVENTS_FD_ENV, EventChannel
from tunix_rt.training.presets import ModelError
from tunix_rt.training.stop import StopSignal
from tunix_rt.training.tokenizer import TokenizerError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_NO_STACK = 3
EXIT_STOPPED = 75
# Set by the worker (runs/materialize.child_env): the JAX compilation cache directory.
USAGE = "usage: python -m tunix_rt.training SPEC.json | --probe"
# The run's log shows the first training prompt as rendered (chat template or Gemma turns).
PROMPT_SHOWN_CHARS = 300


StackMissing = environment.StackMissing


def _events_for_invalid_spec(path: Path) -> EventChannel | None:
    """Best effort: an invalid spec may still name an absolute run_dir for events.jsonl."""
    if os.environ.get(EVENTS_FD_ENV):
        return EventChannel(path.parent)  # the fd is used; the path only holds metrics
    try:
        run_dir = Path(json.loads(path.read_text(encoding="utf-8"))["run_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not run_dir.is_absolute():
        run_dir = path.parent / run_dir
    try:
        return EventChannel(run_dir)
    except OSError:
        return None


def fail(events: EventChannel | None, message: str, code: int) -> int:
    print(message, file=sys.stderr, flush=True)
    if events is not None:
        events.error(message)
    return code


def load_datasets(spec: spec_lib.Spec) -> tuple[list[data.Example], list[data.Example]]:
    train = data.load_examples(spec.resolve(spec.dataset.train_path))
    if not train:
        raise data.DatasetError(f"{spec.dataset.train_path} has no examples")
    holdout: list[data.Example] = []
    if spec.dataset.holdout_path:
        holdout = data.load_examples(spec.resolve(spec.dataset.holdout_path))
    return train, holdout


def run_dry(spec: spec_lib.Spec, events: EventChannel, started: float) -> int:
    from tunix_rt.training import dryrun, tokenizer

    dryrun.check_model(spec)  # before any weight is loaded, here or in a real run
    if spec.hyperparameters.mesh is not None and not environment.missing_modules():
        from tunix_rt.training import devices

        devices.make_mesh(spec)  # the devices this worker has: exit 2 as a real run would
    train, holdout = load_datasets(spec)
    events.phase("tokenize")
    try:
        tok = tokenizer.prepare_tokenizer(spec, train)
    except ImportError:
        report = {
            "valid": True,
            "train_examples": len(train),
            "holdout_examples": len(holdout),
            "note": f"sentencepiece missing, no token statistics: {environment.TRAIN_EXTRA_HINT}",
        }
    else:
        rows = tokenizer.check_vocab(spec, tok)
        encoded = [tokenizer.encode_example(tok, e) for e in train]
        report = dryrun.build_report(spec, train, holdout, encoded, tok.vocab_size, started)
        report["tokenizer"] = dryrun.tokenizer_report(tok, rows)
    dryrun.write_report(report, spec.root, events)
    events.phase("done")
    return EXIT_OK


def run_real(spec: spec_lib.Spec, events: EventChannel, stop: StopSignal) -> int:
    missing = environment.missing_modules()
    if missing:
        raise StackMissing(f"missing {', '.join(missing)}: {environment.TRAIN_EXTRA_HINT}")
    from tunix_rt.training import batches, devices, evaluate, presets, sft, tokenizer

    train, holdout = load_datasets(spec)
    hp = spec.hyperparameters
    events.phase("tokenize")
    tok = tokenizer.prepare_tokenizer(spec, train)
    tokenizer.check_vocab(spec, tok)
    encoded = [tokenizer.encode_example(tok, e) for e in train]
    eval_examples = holdout[: spec.evaluation.max_examples]
    subset = holdout[: spec.evaluation.subset_size] if spec.evaluation.during_training else []
    longest = eval_examples if len(eval_examples) >= len(subset) else subset
    prompt_length = evaluate.plan_prompt_length(tok, longest)
    plan = batches.BatchPlan(
        batch_size=hp.batch_size,
        seq_length=batches.plan_seq_length(encoded, hp.max_seq_length),
        total_steps=batches.plan_total_steps(
            hp.max_steps, hp.num_epochs, len(train), hp.batch_size
        ),
        seed=hp.seed,
        pad_id=tok.pad_id,
    )
    sft.configure_jax_for(spec)
    context = max(plan.seq_length, prompt_length + spec.evaluation.max_new_tokens + 1)
    mesh = devices.make_mesh(spec)  # before any weight is loaded: exit 2 if it cannot fit
    built = presets.build_model(spec, tok.vocab_size, context)
    if spec.init is not None and not sft.committed_steps(spec):
        # Start from another run's committed checkpoint (its weights; a fresh optimizer and
        # schedule). A resumed run restores its own latest checkpoint instead.
        from tunix_rt.training.grpo import restore_init

        print(f"starting from init checkpoint {restore_init(spec, built)}", flush=True)
    split = devices.shard_model(built.model, mesh)
    print(f"{hp.dtype} parameters on {devices.describe(mesh, split)}", flush=True)
    print(
        f"model {built.param_count:,} parameters{' (LoRA)' if built.lora else ''}, "
        f"{len(train)} train / {len(holdout)} holdout examples, batch {plan.batch_size} x "
        f"{plan.seq_length} tokens, {plan.total_steps} steps",
        flush=True,
    )
    rendered = tokenizer.prompt_text(tok, train[0])
    print(
        f"prompt format {'chat_template' if tok.chat_template is not None else 'gemma_turns'}, "
        f"first training prompt as the model sees it: {rendered[:PROMPT_SHOWN_CHARS]!r}",
        flush=True,
    )
    longest_response = max(len(e.tokens) - e.prompt_length for e in encoded)
    if longest_response > spec.evaluation.max_new_tokens:
        print(
            f"warning: training responses run to {longest_response} tokens but evaluation "
            f"generates at most {spec.evaluation.max_new_tokens}: long answers will be cut off",
            flush=True,
        )
    mid_eval = None
    if spec.evaluation.during_training and subset:
        mid_eval = evaluate.MidTrainingEval(
            built,
            tok,
            subset,
            spec.evaluation.every_steps,
            spec.evaluation.max_new_tokens,
            events,
            checkpoint_every=hp.save_every_steps if spec.evaluation.at_checkpoints else None,
            final_step=plan.total_steps,
        )
    outcome = sft.run_training(
        spec, built, encoded, plan, events, stop, mid_eval.maybe_run if mid_eval else None, mesh
    )
    if mid_eval is not None and mid_eval.done_steps:
        print(
            f"evaluations during training: {len(mid_eval.done_steps)} in "
            f"{mid_eval.wall_s:.1f}s ({100 * mid_eval.wall_s / max(outcome.wall_s, 1e-9):.0f}% "
            "of the training time)",
            flush=True,
        )
    if outcome.stopped:
        print(f"stopped ({stop.reason}) at step {outcome.final_step}", flush=True)
        events.error(f"stopped by {stop.reason} at step {outcome.final_step}")
        return EXIT_STOPPED
    print(f"trained steps {outcome.start_step}..{outcome.final_step} in {outcome.wall_s:.1f}s")
    events.phase("evaluate")
    evaluate.evaluate_run(spec, built, tok, eval_examples, events, outcome.final_step)
    events.phase("done")
    return EXIT_OK


def run(spec_path: Path) -> int:
    started = time.perf_counter()
    try:
        spec = spec_lib.load_spec(spec_path)
    except spec_lib.SpecError as exc:
        return fail(_events_for_invalid_spec(spec_path), str(exc), EXIT_INVALID)
    spec.root.mkdir(parents=True, exist_ok=True)
    events = EventChannel(spec.root)
    stop = StopSignal()
    stop.install_sigterm()
    stop.watch_parent()
    try:
        if spec.dry_run:
            return run_dry(spec, events, started)
        if spec.task == "evaluate":
            from tunix_rt.training import eval_job

            eval_job.run_evaluate(spec, events)
            return EXIT_OK
        if spec.task == "export":
            from tunix_rt.training import export

            export.run_export(spec, events)
            return EXIT_OK
        if spec.algorithm == "grpo":
            from tunix_rt.training import grpo

            return EXIT_STOPPED if grpo.run_grpo(spec, events, stop) else EXIT_OK
        return run_real(spec, events, stop)
    except StackMissing as exc:
        return fail(events, str(exc), EXIT_NO_STACK)
    except (data.DatasetError, TokenizerError, ModelError) as exc:
        return fail(events, str(exc), EXIT_INVALID)
    except Exception as exc:
        traceback.print_exc()
        return fail(events, f"training failed: {type(exc).__name__}: {exc}", EXIT_FAILED)
    finally:
        events.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--probe"]:
        print(json.dumps(environment.probe_environment()))
        return EXIT_OK
    if len(args) != 1 or args[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return EXIT_INVALID
    return run(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
