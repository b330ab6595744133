"""Evaluation: greedy generation with Tunix's Sampler on held-out examples, exact match.

Correctness and the format check are the one scorer's (tunix_rt.traces.scorer); its
version is written into eval.json. Prompts are padded to one length and batches to one size
so the sampler compiles once.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunix_rt.traces import scorer
from tunix_rt.training import data
from tunix_rt.training.events import EventChannel
from tunix_rt.training.presets import BuiltModel
from tunix_rt.training.spec import Spec
from tunix_rt.training.tokenizer import (
    SamplerTokenizer,
    Tokenizer,
    encode_prompt,
    prompt_text,
    stop_token_ids,
)

EVAL_BATCH_SIZE = 32
MAX_CLASS_BREAKDOWN = 20


def next_power_of_2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def plan_prompt_length(tokenizer: Tokenizer, examples: list[data.Example]) -> int:
    longest = max((len(encode_prompt(tokenizer, e)) for e in examples), default=1)
    return next_power_of_2(longest)


def prompts_of(tokenizer: Tokenizer, examples: list[data.Example]) -> list[str]:
    """The prompts the sampler receives (the model's chat template when it has one)."""
    return [prompt_text(tokenizer, e) for e in examples]


def forbidden_ids(tokenizer: Tokenizer, embedding_rows: int) -> tuple[int, ...]:
    """Embedding rows past the tokenizer (real Qwen: 151,936 rows, 151,669 ids): their
    logits are masked, so generation never yields an id the tokenizer cannot decode."""
    return tuple(range(tokenizer.vocab_size, embedding_rows))


class GreedyGenerator:
    """Tunix's Sampler, built (and compiled) once and reused: before each call it takes the
    model's current weights, so evaluations during training see the weights of that step."""

    def __init__(
        self, built: BuiltModel, tokenizer: Tokenizer, max_new_tokens: int, prompt_length: int
    ) -> None:
        from tunix.generate import sampler as sampler_lib
        from tunix.generate import tokenizer_adapter

        layout = built.layout
        self._built = built
        self._max_new_tokens = max_new_tokens
        self._prompt_length = prompt_length
        self._stops = stop_token_ids(tokenizer)
        config = getattr(built.model, "config", None)
        rows = getattr(config, "num_embed", None) or getattr(config, "vocab_size", None) or 0
        self._forbidden = forbidden_ids(tokenizer, int(rows)) or None
        self._sampler = sampler_lib.Sampler(
            built.model,
            tokenizer_adapter.TokenizerAdapter(SamplerTokenizer(tokenizer)),
            sampler_lib.CacheConfig(
                cache_size=prompt_length + max_new_tokens + 1,
                num_layers=layout.num_layers,
                num_kv_heads=layout.num_kv_heads,
                head_dim=layout.head_dim,
            ),
        )

    def __call__(
        self, prompts: list[str], progress: Callable[[int, int], None] | None = None
    ) -> list[str]:
        """Greedy completions of `prompts`; `progress(done, total)` after each batch."""
        from flax import nnx

        self._sampler.transformer_state = nnx.variables(self._built.model)
        outputs: list[str] = []
        batch = min(EVAL_BATCH_SIZE, len(prompts))
        for start in range(0, len(prompts), batch):
            chunk = prompts[start : start + batch]
            # Pad the last chunk with copies: one batch shape, one compile.
            padded = chunk + [chunk[-1]] * (batch - len(chunk))
            result = self._sampler(
                padded,
                max_generation_steps=self._max_new_tokens,
                max_prompt_length=self._prompt_length,
                eos_tokens=self._stops,
                forbidden_tokens=self._forbidden,
                temperature=0.0,
            )
            outputs.extend(result.text[: len(chunk)])
            if progress is not None:
                progress(len(outputs), len(prompts))
        return outputs


# One sampler per (model, tokenizer, max_new_tokens, prompt_length) in this process, so the
# end-of-run evaluation reuses the one evaluations during training compiled: on CPU the tiny
# model's sampler compile costs several seconds, a warm call on 64 prompts about one
# (bench/evaluation.py). Holding the generator keeps its model alive, so ids stay unique;
# only the newest few are kept (a test process builds many models).
_GENERATORS: dict[tuple[int, int, int, int], GreedyGenerator] = {}
MAX_CACHED_GENERATORS = 2


def greedy_generator(
    built: BuiltModel, tokenizer: Tokenizer, max_new_tokens: int, prompt_length: int
) -> GreedyGenerator:
    key = (id(built.model), id(tokenizer), max_new_tokens, prompt_length)
    generator = _GENERATORS.get(key)
    if generator is None:
        generator = GreedyGenerator(built, tokenizer, max_new_tokens, prompt_length)
        while len(_GENERATORS) >= MAX_CACHED_GENERATORS:
            del _GENERATORS[next(iter(_GENERATORS))]
        _GENERATORS[key] = generator
    return generator


def generate(
    built: BuiltModel,
    tokenizer: Tokenizer,
    prompts: list[str],
    max_new_tokens: int,
    prompt_length: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Greedy completions of prompts already rendered for the model (`prompts_of`,
    `tokenizer.user_prompt_text`)."""
    return greedy_generator(built, tokenizer, max_new_tokens, prompt_length)(prompts, progress)


def print_progress(started: float) -> Callable[[int, int], None]:
    """A progress callback printing "evaluated 32/200 examples (...)": a log line the run's
    live log (SSE) and `runs logs -f` show."""

    def report(done: int, total: int) -> None:
        took = time.perf_counter() - started
        print(
            f"evaluated {done}/{total} examples ({done / max(took, 1e-9):.1f} examples/s)",
            flush=True,
        )

    return report


def _rate(rows: list[dict[str, Any]], key: str) -> float:
    return sum(1 for r in rows if r[key]) / len(rows) if rows else 0.0


def summarize(rows: list[dict[str, Any]], groups: list[str]) -> dict[str, Any]:
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_answer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row, group in zip(rows, groups, strict=True):
        by_task[group].append(row)
        by_answer[row["expected_answer"]].append(row)

    def breakdown(buckets: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        return {
            name: {
                "n": len(r),
                "exact_match": _rate(r, "correct"),
                "format_ok": _rate(r, "format_ok"),
            }
            for name, r in sorted(buckets.items())
        }

    summary: dict[str, Any] = {
        "exact_match": _rate(rows, "correct"),
        "format_ok": _rate(rows, "format_ok"),
        "n": len(rows),
        "by_task": breakdown(by_task),
    }
    if len(by_answer) <= MAX_CLASS_BREAKDOWN:
        summary["by_expected_answer"] = breakdown(by_answer)
    return summary


def score_rows(examples: list[data.Example], generated: list[str]) -> list[dict[str, Any]]:
    rows = []
    for example, text in zip(examples, generated, strict=True):
        verdict = scorer.score_generation(text, example.expected_answer)
        rows.append(
            {
                "id": example.id,
                "trace_id": example.trace_id,
                "task": example.task,
                "prompt": example.user_prompt,
                "expected_answer": example.expected_answer,
                "generated": text,
                "extracted_answer": verdict.extracted,
                "correct": verdict.correct,
                "format_ok": verdict.format_ok,
            }
        )
    return rows


class MidTrainingEval:
    """Evaluations during training: greedy generation on a pinned holdout subset every
    `every_steps` steps (and, with `checkpoint_every`, at every checkpoint step: its
    multiples and the final step), reported as eval/* metrics at that step (per expected
    answer too, when there are at most MAX_CLASS_BREAKDOWN classes)."""

    def __init__(
        self,
        built: BuiltModel,
        tokenizer: Tokenizer,
        subset: list[data.Example],
        every_steps: int | None,
        max_new_tokens: int,
        events: EventChannel,
        *,
        checkpoint_every: int | None = None,
        final_step: int | None = None,
    ) -> None:
        self.every_steps = every_steps
        self.checkpoint_every = checkpoint_every
        self.final_step = final_step
        self._subset = subset
        self._events = events
        self._prompts = prompts_of(tokenizer, subset)
        self._generate = greedy_generator(
            built, tokenizer, max_new_tokens, plan_prompt_length(tokenizer, subset)
        )
        self.wall_s = 0.0
        self.done_steps: set[int] = set()

    def is_due(self, step: int) -> bool:
        if step <= 0 or step in self.done_steps:
            return False
        if self.every_steps and step % self.every_steps == 0:
            return True
        if self.checkpoint_every is None:
            return False
        return step % self.checkpoint_every == 0 or step == self.final_step

    def maybe_run(self, step: int) -> None:
        if not self._subset or not self.is_due(step):
            return
        self.done_steps.add(step)
        started = time.perf_counter()
        rows = score_rows(self._subset, self._generate(self._prompts))
        summary = summarize(rows, [e.task for e in self._subset])
        values = {
            "eval/exact_match": summary["exact_match"],
            "eval/format_ok": summary["format_ok"],
        }
        for label, bucket in (summary.get("by_expected_answer") or {}).items():
            values[f"eval/exact_match/{label}"[:64]] = bucket["exact_match"]
        self._events.emit("metric", step=step, values=values)
        took = time.perf_counter() - started
        self.wall_s += took
        print(
            f"eval at step {step}: exact_match {summary['exact_match']:.3f} "
            f"format_ok {summary['format_ok']:.3f} n {summary['n']} ({took:.1f}s)",
            flush=True,
        )


def run_evaluation(
    built: BuiltModel,
    tokenizer: Tokenizer,
    holdout: list[data.Example],
    max_examples: int,
    max_new_tokens: int,
    output: Path,
    events: EventChannel,
    step: int,
) -> dict[str, Any]:
    examples = holdout[:max_examples]
    started = time.perf_counter()
    generated: list[str] = []
    if examples:
        prompt_length = plan_prompt_length(tokenizer, examples)
        generated = generate(
            built,
            tokenizer,
            prompts_of(tokenizer, examples),
            max_new_tokens,
            prompt_length,
            print_progress(started),
        )
    rows = score_rows(examples, generated)
    summary = summarize(rows, [e.task for e in examples])
    summary.update(
        step=step,
        max_new_tokens=max_new_tokens,
        wall_s=round(time.perf_counter() - started, 3),
        scorer_version=scorer.SCORER_VERSION,
    )
    if not examples:
        summary["note"] = "no held-out examples: nothing was evaluated"
    tmp = output.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {"scorer_version": scorer.SCORER_VERSION, "summary": summary, "examples": rows},
            indent=1,
        ),
        encoding="utf-8",
    )
    tmp.replace(output)
    events.emit("eval", summary=summary)
    print(
        f"eval: exact_match {summary['exact_match']:.3f} format_ok {summary['format_ok']:.3f} "
        f"n {summary['n']} ({summary['wall_s']:.1f}s)",
        flush=True,
    )
    return summary


def evaluate_run(
    spec: Spec,
    built: BuiltModel,
    tokenizer: Tokenizer,
    holdout: list[data.Example],
    events: EventChannel,
    step: int,
) -> dict[str, Any]:
    """The evaluation a run's spec asks for (its evaluation settings) into run_dir/eval.json:
    the end of a training run, or an evaluation job."""
    return run_evaluation(
        built,
        tokenizer,
        holdout,
        spec.evaluation.max_examples,
        spec.evaluation.max_new_tokens,
        spec.root / "eval.json",
        events,
        step,
    )
