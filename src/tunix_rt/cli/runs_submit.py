"""`tunix-rt runs submit`: options to a RunRequest, POST it, optionally follow it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import typer

from tunix_rt.cli import follow
from tunix_rt.cli.client import Client
from tunix_rt.cli.output import command, console, err_console, fail, print_json
from tunix_rt.cli.run_ids import resolve_run_id

PRESETS = ("tiny", "small")
SERVER_OPTION = typer.Option(
    None, "--server", envvar="TUNIX_RT_SERVER", help="Server URL (default http://127.0.0.1:8000)."
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")
NAME_OPTION = typer.Option(None, "--name", help="What to call the run (at most 200 characters).")
TAG_OPTION = typer.Option(
    None, "--tag", "-t", help="A tag (letters, digits, _ . : -); repeat for several."
)
NOTES_OPTION = typer.Option(None, "--notes", help="Free-text notes on the run.")
NOTES_FILE_OPTION = typer.Option(
    None, "--notes-file", help="Read the notes from this file ('-': standard input)."
)


ALGORITHMS = ("sft", "grpo")


def parse_init_from(value: str) -> tuple[str, str | int]:
    """RUN[:latest|best|STEP] -> (run reference, checkpoint); the checkpoint defaults to
    latest."""
    ref, _, checkpoint = value.partition(":")
    checkpoint = checkpoint or "latest"
    if not ref or (checkpoint not in ("latest", "best") and not checkpoint.isdigit()):
        fail(f"--init-from must be RUN[:latest|best|STEP], not {value!r}", 2)
    return ref, int(checkpoint) if checkpoint.isdigit() else checkpoint


def parse_grpo(items: list[str]) -> dict[str, Any]:
    """--grpo KEY=VALUE options -> the request's grpo settings (values are JSON numbers)."""
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        try:
            value = json.loads(raw) if sep and key else None
        except ValueError:
            value = None
        if not isinstance(value, int | float) or isinstance(value, bool):
            fail(f"--grpo must be KEY=NUMBER (e.g. num_generations=8), not {item!r}", 2)
        settings[key.strip()] = value
    return settings


def read_notes(notes: str | None, notes_file: Path | None) -> str | None:
    """--notes TEXT or --notes-file FILE (not both); None when neither is given."""
    if notes_file is None:
        return notes
    if notes is not None:
        fail("give --notes or --notes-file, not both")
    if str(notes_file) == "-":
        return sys.stdin.read()
    try:
        return notes_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read --notes-file {notes_file}: {exc}")


MESH_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_mesh(text: str | None) -> dict[str, int] | None:
    """--mesh DATAxMODEL (e.g. 2x2) as the request's {"data": 2, "model": 2}."""
    if text is None:
        return None
    match = MESH_RE.match(text)
    if not match:
        fail(f"--mesh must be DATAxMODEL devices, e.g. 2x2; got {text!r}")
    return {"data": int(match[1]), "model": int(match[2])}


def build_request(
    *,
    dataset: str,
    model: str,
    model_id: str | None,
    dry_run: bool,
    hyperparameters: dict[str, Any],
) -> dict[str, Any]:
    """Map CLI options onto the RunRequest body (unset options are left to server defaults)."""
    body: dict[str, Any] = {"dataset_key": dataset, "dry_run": dry_run}
    if model in PRESETS:
        body["model_id"] = model_id or model
    else:
        path = Path(model).expanduser()
        if not path.is_dir():
            fail(f"--model must be tiny, small or a model directory; {model!r} is neither")
        if model_id:
            body["model_id"] = model_id
        elif not (path / "config.json").is_file():
            fail("--model DIR has no config.json: give --model-id naming its family and size")
        body["model_path"] = str(path.resolve())
    body.update({k: v for k, v in hyperparameters.items() if v is not None})
    return body


@command
def submit(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset key to train on."),
    model: str = typer.Option("tiny", "--model", "-m", help="tiny, small, or a model directory."),
    model_id: str | None = typer.Option(
        None,
        "--model-id",
        help="Family and size of a --model DIR without config.json, e.g. gemma3-270m.",
    ),
    steps: int | None = typer.Option(None, "--steps", min=1, help="max_steps (default 300)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="num_epochs."),
    learning_rate: float | None = typer.Option(None, "--learning-rate", "--lr"),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1),
    max_seq_length: int | None = typer.Option(None, "--max-seq-length", min=8),
    seed: int | None = typer.Option(None, "--seed", min=0),
    warmup_fraction: float | None = typer.Option(None, "--warmup-fraction"),
    save_every_steps: int | None = typer.Option(None, "--save-every-steps", min=1),
    keep_checkpoints: int | None = typer.Option(None, "--keep-checkpoints", min=1),
    lora_rank: int | None = typer.Option(None, "--lora-rank", min=1),
    lora_alpha: float | None = typer.Option(None, "--lora-alpha"),
    dtype: str | None = typer.Option(
        None, "--dtype", help="float32 (default) or bfloat16 weights and compute."
    ),
    mesh: str | None = typer.Option(
        None, "--mesh", help="DATAxMODEL devices, e.g. 2x2 (default: one device)."
    ),
    eval_max_examples: int | None = typer.Option(None, "--eval-max-examples", min=0),
    eval_max_new_tokens: int | None = typer.Option(None, "--eval-max-new-tokens", min=1),
    timeout_s: int | None = typer.Option(None, "--timeout-s", min=1, help="Run time limit."),
    priority: int | None = typer.Option(None, "--priority", help="Higher runs first."),
    max_attempts: int | None = typer.Option(None, "--max-attempts", min=1),
    name: str | None = NAME_OPTION,
    tags: list[str] | None = TAG_OPTION,
    notes: str | None = NOTES_OPTION,
    notes_file: Path | None = NOTES_FILE_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate spec and data, no training."),
    algorithm: str | None = typer.Option(None, "--algorithm", help="sft (default) or grpo."),
    init_from: str | None = typer.Option(
        None,
        "--init-from",
        help="RUN[:latest|best|STEP]: start from that training run's checkpoint (its model, "
        "tokenizer and LoRA shape); default latest.",
    ),
    grpo: list[str] | None = typer.Option(
        None,
        "--grpo",
        help="A GRPO setting KEY=VALUE (num_generations, num_iterations, beta, epsilon, "
        "temperature, max_new_tokens, reward_correct, reward_format, length_penalty, "
        "rollout_every_steps, rollout_prompts); repeat for several.",
    ),
    follow_run: bool = typer.Option(False, "--follow", "-f", help="Stream the log to the end."),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Submit a training run (and follow it with --follow); GRPO with --algorithm grpo
    --init-from RUN."""
    if algorithm is not None and algorithm not in ALGORITHMS:
        fail(f"--algorithm must be sft or grpo, not {algorithm!r}", 2)
    init = parse_init_from(init_from) if init_from is not None else None
    if init is not None and (model != PRESETS[0] or model_id):
        fail("--model/--model-id: a run started with --init-from keeps that run's model", 2)
    body = build_request(
        dataset=dataset,
        model=model,
        model_id=model_id,
        dry_run=dry_run,
        hyperparameters={
            "max_steps": steps,
            "num_epochs": epochs,
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "max_seq_length": max_seq_length,
            "seed": seed,
            "warmup_fraction": warmup_fraction,
            "save_every_steps": save_every_steps,
            "keep_checkpoints": keep_checkpoints,
            "lora_rank": lora_rank,
            "lora_alpha": lora_alpha,
            "dtype": dtype,
            "mesh": parse_mesh(mesh),
            "eval_max_examples": eval_max_examples,
            "eval_max_new_tokens": eval_max_new_tokens,
            "timeout_s": timeout_s,
            "priority": priority,
            "max_attempts": max_attempts,
            "name": name,
            "tags": tags or None,
            "notes": read_notes(notes, notes_file),
        },
    )
    if algorithm is not None:
        body["algorithm"] = algorithm
    if grpo:
        body["grpo"] = parse_grpo(grpo)
    with Client(server) as client:
        if init is not None:
            body.pop("model_id", None)
            body["init_from"] = {"run_id": resolve_run_id(client, init[0]), "checkpoint": init[1]}
        run = client.post_json("/api/tunix/run", body, params={"mode": "async"})
        run_id = str(run["run_id"])
        if not follow_run:
            if as_json:
                print_json(run)
            else:
                console.print(
                    f"submitted run [bold]{run_id}[/bold] ({run['status']})", soft_wrap=True
                )
                console.print(
                    f"follow it with: tunix-rt runs logs {run_id} -f",
                    highlight=False,
                    soft_wrap=True,
                )
            return
        raise typer.Exit(follow_submitted(client, run_id, as_json=as_json))


def follow_submitted(client: Client, run_id: str, *, as_json: bool = False) -> int:
    """Follow a run just submitted: bar + log, then the eval summary; return the exit code."""
    if as_json:
        # Scripts get the log on stderr and the final run record on stdout.
        status = follow.follow_run(
            client, run_id, console=err_console, notice=err_console, show_progress=False
        )
        print_json(client.get_json(f"/api/tunix/runs/{run_id}"))
        return 0 if status == "completed" else 1
    console.print(
        f"submitted run [bold]{run_id}[/bold]; following it (Ctrl-C stops following)",
        soft_wrap=True,
    )
    status = follow.follow_run(client, run_id, console=console, notice=err_console)
    return follow.report_outcome(client, run_id, status, console, err_console)
