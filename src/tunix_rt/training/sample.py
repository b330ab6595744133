"""Sample from a trained run's checkpoint.

`python -m tunix_rt.training.sample RUN_DIR "prompt" ... [--step N]` prints one JSON line
per prompt (greedy). `python -m tunix_rt.training.sample --json RUN_DIR` is the service's
protocol (POST /api/tunix/runs/{id}/generate): one JSON request on stdin
({"prompts", "max_new_tokens", "temperature", "top_p", "seed", "step"}) and one JSON object
on stdout, `{"step", "completions": [{"prompt", "text", "answer"}], ...}` or `{"error"}`.
Everything else the stack prints goes to stderr, so stdout holds that object alone.

The model is rebuilt from RUN_DIR/spec.json and its tokenizer (RUN_DIR/tokenizer.model or
the model directory's own), prompts are rendered with the model's chat template, and the
checkpoint's parameters are restored over it (only the LoRA parameters for a LoRA run, as
evaluation jobs do). Greedy (temperature 0) goes through the evaluation's own generator, so
it reproduces what the run's evaluation generated for the same prompt.

Exit codes: 0 success; 2 bad request or inputs (a prompt too long, no such checkpoint,
no tokenizer); 3 training stack not installed; 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tunix_rt.traces import scorer
from tunix_rt.training import data, environment
from tunix_rt.training import spec as spec_lib
from tunix_rt.training.presets import ModelError
from tunix_rt.training.tokenizer import TokenizerError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_NO_STACK = 3
MAX_PROMPT_TOKENS = 4096


class BadRequest(data.DatasetError):
    """The request cannot be served as asked (exit 2)."""


@dataclass
class SampleRequest:
    prompts: list[str]
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = None
    step: int | None = None

    @classmethod
    def from_json(cls, raw: Any) -> SampleRequest:
        if not isinstance(raw, dict):
            raise BadRequest("the request must be a JSON object")
        prompts = raw.get("prompts")
        if (
            not isinstance(prompts, list)
            or not prompts
            or not all(isinstance(p, str) for p in prompts)
        ):
            raise BadRequest("prompts must be a non-empty list of strings")
        step = raw.get("step")
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            raise BadRequest("step must be an integer")
        seed = raw.get("seed")
        top_p = raw.get("top_p")
        return cls(
            prompts=prompts,
            max_new_tokens=max(1, int(raw.get("max_new_tokens", 64))),
            temperature=max(0.0, float(raw.get("temperature", 0.0))),
            top_p=None if top_p is None else float(top_p),
            seed=None if seed is None else int(seed),
            step=step,
        )


def restore_model(
    spec: spec_lib.Spec, step: int | None, vocab_size: int, context: int
) -> tuple[Any, int]:
    """(model with the checkpoint's weights, restored step): the latest committed one when
    step is None."""
    from tunix_rt.training import eval_job, presets, sft

    steps = sft.committed_steps(spec)
    if not steps:
        raise BadRequest(f"no committed checkpoint in {spec.checkpoints_dir.name}/")
    chosen = steps[-1] if step is None else step
    if chosen not in steps:
        raise BadRequest(
            f"no checkpoint at step {chosen} (committed: {', '.join(map(str, steps))})"
        )
    built = presets.build_model(spec, vocab_size, context)
    eval_job.restore_checkpoint(spec, built, chosen)
    return built, chosen


def sample(spec: spec_lib.Spec, request: SampleRequest) -> dict[str, Any]:
    environment.require_stack()
    from tunix_rt.training import evaluate, sft, tokenizer

    started = time.perf_counter()
    tok = tokenizer.load_tokenizer(spec)
    tokenizer.check_vocab(spec, tok)
    rendered = [tokenizer.user_prompt_text(tok, p) for p in request.prompts]
    lengths = [len(tokenizer.encode_prompt(tok, text)) for text in rendered]
    if max(lengths) > MAX_PROMPT_TOKENS:
        worst = lengths.index(max(lengths))
        raise BadRequest(
            f"prompt {worst} is {lengths[worst]} tokens with the chat template; "
            f"at most {MAX_PROMPT_TOKENS}"
        )
    prompt_length = evaluate.next_power_of_2(max(lengths))
    sft.configure_jax_for(spec)
    context = prompt_length + request.max_new_tokens + 1
    built, step = restore_model(spec, request.step, tok.vocab_size, context)
    loaded = time.perf_counter()
    if request.temperature == 0.0:
        texts = evaluate.generate(built, tok, rendered, request.max_new_tokens, prompt_length)
    else:
        texts = sample_with_temperature(built, tok, rendered, request, prompt_length)
    return {
        "step": step,
        "completions": [
            {"prompt": prompt, "text": text, "answer": scorer.extract_answer(text)}
            for prompt, text in zip(request.prompts, texts, strict=True)
        ],
        "prompt_tokens": lengths,
        "load_s": round(loaded - started, 3),
        "generate_s": round(time.perf_counter() - loaded, 3),
    }


def sample_with_temperature(
    built: Any, tok: Any, rendered: list[str], request: SampleRequest, prompt_length: int
) -> list[str]:
    """Temperature sampling (nucleus `top_p`, 1.0 = the whole distribution) with Tunix's
    sampler; the seed makes it repeatable."""
    from tunix.generate import sampler as sampler_lib
    from tunix.generate import tokenizer_adapter

    from tunix_rt.training import evaluate, tokenizer

    config = getattr(built.model, "config", None)
    rows = getattr(config, "num_embed", None) or getattr(config, "vocab_size", None) or 0
    forbidden = evaluate.forbidden_ids(tok, int(rows)) or None
    layout = built.layout
    sampler = sampler_lib.Sampler(
        built.model,
        tokenizer_adapter.TokenizerAdapter(tokenizer.SamplerTokenizer(tok)),
        sampler_lib.CacheConfig(
            cache_size=prompt_length + request.max_new_tokens + 1,
            num_layers=layout.num_layers,
            num_kv_heads=layout.num_kv_heads,
            head_dim=layout.head_dim,
        ),
    )
    result = sampler(
        rendered,
        max_generation_steps=request.max_new_tokens,
        max_prompt_length=prompt_length,
        eos_tokens=tokenizer.stop_token_ids(tok),
        forbidden_tokens=forbidden,
        temperature=request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        seed=request.seed if request.seed is not None else 0,
    )
    return list(result.text)


def _answer(out: TextIO, body: dict[str, Any]) -> None:
    out.write(json.dumps(body) + "\n")
    out.flush()


def serve_json(run_dir: Path) -> int:
    """The --json protocol. stdout is moved onto stderr for the whole call (JAX, Orbax and
    Tunix may print), and the answer goes to the original stdout."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        request = SampleRequest.from_json(json.loads(sys.stdin.read() or "null"))
        spec = spec_lib.load_spec(run_dir / "spec.json")
        _answer(out, sample(spec, request))
        return EXIT_OK
    except environment.StackMissing as exc:
        _answer(out, {"error": str(exc)})
        return EXIT_NO_STACK
    except json.JSONDecodeError as exc:
        _answer(out, {"error": f"the request is not JSON: {exc}"})
        return EXIT_INVALID
    except (spec_lib.SpecError, data.DatasetError, TokenizerError, ModelError) as exc:
        _answer(out, {"error": str(exc)})
        return EXIT_INVALID
    except Exception as exc:
        traceback.print_exc()
        _answer(out, {"error": f"generation failed: {type(exc).__name__}: {exc}"})
        return EXIT_FAILED
    finally:
        out.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tunix_rt.training.sample")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("prompts", nargs="*", help="raw user prompts (the chat template is added)")
    parser.add_argument("--json", action="store_true", help="read one JSON request on stdin")
    parser.add_argument("--step", type=int, default=None)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    if args.json:
        return serve_json(args.run_dir)
    if not args.prompts:
        parser.error("give at least one prompt (or --json)")
    spec = spec_lib.load_spec(args.run_dir / "spec.json")
    request = SampleRequest(args.prompts, max_new_tokens=args.max_new_tokens, step=args.step)
    result = sample(spec, request)
    for completion in result["completions"]:
        print(
            json.dumps(
                {
                    "step": result["step"],
                    "prompt": completion["prompt"],
                    "generated": completion["text"],
                    "answer": completion["answer"],
                }
            )
        )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
