"""Try a run's model: completions of a few prompts from one of its checkpoints.

The model is loaded outside the API's event loop, in a child process per call
(`python -m tunix_rt.training.sample --json DIR`, settings.sample_command), with a deadline
(settings.generate_timeout_s) and at most settings.generate_max_concurrent calls at a time
(more get 429 at once: each call loads a model).

The child gets a staging directory ARTIFACT_ROOT/.generate/<uuid>/ holding the run's spec,
its tokenizer and the checkpoint's files, hard-linked. Retention deletes a checkpoint's row
(committed) before it renames the directory away, so the links are checked against the row
after they are made, in a new transaction: a row still there means the directory was whole
while it was linked, and from then on the links keep the files alive whatever retention or
a run deletion does; a row gone (or files vanishing under the links) is a 409. The staging
directory lives outside the run's directory, so deleting the run mid-call cannot pull it
away, and it is removed when the call ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.runs import artifacts, materialize
from tunix_rt.runs import checkpoints as run_checkpoints
from tunix_rt.settings import Settings

STAGING_DIR = ".generate"
MAX_PROMPTS = 16
MAX_PROMPT_CHARS = 8000
MAX_NEW_TOKENS = 1024
BUSY_RETRY_AFTER_S = 5
EXIT_INVALID = 2
EXIT_NO_STACK = 3
STDERR_TAIL_CHARS = 2000

Prompt = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)]


class GenerationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompts: list[Prompt] = Field(
        min_length=1,
        max_length=MAX_PROMPTS,
        description="Raw user prompts; each is rendered with the model's chat template.",
    )
    max_new_tokens: int = Field(default=64, ge=1, le=MAX_NEW_TOKENS)
    temperature: float = Field(
        default=0.0, ge=0.0, le=2.0, description="0 is greedy (what evaluations use)."
    )
    top_p: float | None = Field(
        default=None, gt=0.0, le=1.0, description="Nucleus sampling when temperature > 0."
    )
    seed: int | None = Field(
        default=None, ge=0, le=2**31 - 1, description="Sampling seed (temperature > 0)."
    )
    checkpoint: Literal["latest", "best"] | Annotated[int, Field(ge=0)] = Field(
        default="latest", description='"latest", "best" or a checkpoint step.'
    )

    @field_validator("prompts")
    @classmethod
    def _not_blank(cls, prompts: list[str]) -> list[str]:
        for index, prompt in enumerate(prompts):
            if not prompt.strip():
                raise ValueError(f"prompt {index} is blank")
        return prompts


class GeneratedCompletion(BaseModel):
    prompt: str
    text: str = Field(description="The generated text (after the chat template's prompt).")
    answer: str | None = Field(description="The answer the scorer extracts (None: none).")


class GenerationResponse(BaseModel):
    run_id: uuid.UUID
    step: int = Field(description="The checkpoint step the completions came from.")
    completions: list[GeneratedCompletion]
    temperature: float
    max_new_tokens: int
    seed: int | None
    prompt_tokens: list[int] = Field(description="Each prompt's length with the template.")
    load_s: float = Field(description="Seconds spent loading the model and checkpoint.")
    generate_s: float
    wall_s: float = Field(description="Seconds the whole call took, child start included.")


class GeneratorBusy(errors.TunixRtError):
    status_code = 429


class GenerationTimeout(errors.TunixRtError):
    status_code = 504


class GenerationFailed(errors.TunixRtError):
    status_code = 500


class Slots:
    """At most `limit` generations at a time in this server; no queueing (each one loads a
    model: a queue would only turn into timeouts)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    @contextlib.contextmanager
    def take(self) -> Any:
        if self.active >= self.limit:
            raise GeneratorBusy(
                f"the server is already generating ({self.active} of {self.limit} at a time); "
                f"try again in a few seconds",
                retry_after_s=BUSY_RETRY_AFTER_S,
            )
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1


@dataclass(frozen=True)
class Staged:
    directory: Path
    step: int


def _link(source: Path, target: Path) -> int:
    if not source.exists():
        return 0
    return materialize.link_tree(source, target)


async def stage(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    run_id: uuid.UUID,
    request: GenerationRequest,
) -> Staged:
    """The staging directory of one call (its checkpoint resolved and linked)."""
    async with sessions() as session:
        run = await session.get(models.Run, run_id)
        if run is None:
            raise errors.NotFound(f"run {run_id} not found")
        if run.kind != "train" or run.dry_run:
            raise errors.ValidationFailed(
                f"run {run_id} is a{' dry run' if run.dry_run else 'n ' + run.kind + ' job'}: "
                "only a training run has checkpoints to generate from"
            )
        step = await run_checkpoints.resolve_step(session, run, request.checkpoint, "generate from")
        rows = await materialize.checkpoint_and_tokenizer_rows(session, run_id, step)
        checkpoint = rows.get(f"{artifacts.CHECKPOINTS_DIR}/{step}")
        if checkpoint is None:
            if step in run_checkpoints.pruned_steps(run):
                raise errors.Conflict(
                    f"checkpoint step {step} of run {run_id} was deleted by retention",
                    status=run.status,
                )
            raise errors.NotFound(f"run {run_id} has no checkpoint at step {step}")
        # A run started from another run's checkpoint keeps that run's model and tokenizer.
        spec = await materialize.source_spec(session, run, settings)
        tokenizer = next((rows[name] for name in materialize.TOKENIZER_NAMES if name in rows), None)
        needs_tokenizer = spec["tokenizer"]["kind"] == "sentencepiece_train"
    run_dir = materialize.run_dir_of(settings, run_id)
    directory = settings.artifacts / STAGING_DIR / uuid.uuid4().hex
    spec.update(run_id=str(run_id), task="train", dry_run=False)

    def link() -> int:
        (directory / "logs").mkdir(parents=True)
        (directory / "spec.json").write_text(json.dumps(spec, indent=2) + "\n", "utf-8")
        if tokenizer is not None:
            _link(run_dir / tokenizer.relpath, directory / materialize.TOKENIZER_FILE)
        return _link(run_dir / checkpoint.relpath, directory / checkpoint.name)

    try:
        linked = await anyio.to_thread.run_sync(link)
        async with sessions() as session:  # a new transaction: sees a committed prune
            still = await materialize.checkpoint_and_tokenizer_rows(session, run_id, step)
        if linked == 0 or checkpoint.name not in still:
            raise errors.Conflict(
                f"checkpoint step {step} of run {run_id} was deleted (retention) while it "
                "was being loaded; try another checkpoint"
            )
        if needs_tokenizer and not (directory / materialize.TOKENIZER_FILE).is_file():
            raise errors.Conflict(f"the tokenizer of run {run_id} is gone")
    except OSError as exc:
        await remove(directory)
        raise errors.Conflict(
            f"checkpoint step {step} of run {run_id} could not be read: {exc.strerror or exc}"
        ) from exc
    except BaseException:
        await remove(directory)
        raise
    return Staged(directory=directory, step=step)


async def remove(directory: Path) -> None:
    await anyio.to_thread.run_sync(lambda: shutil.rmtree(directory, ignore_errors=True))


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def run_child(settings: Settings, staged: Staged, payload: dict[str, Any]) -> dict[str, Any]:
    """Run the sample child on a staged directory; its answer, or the mapped error."""
    argv = [*settings.sample_command, "--json", str(staged.directory)]
    env = {**os.environ, **materialize.child_env(settings), "PYTHONUNBUFFERED": "1"}
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(staged.directory),
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise errors.TrainingUnavailable(
            f"cannot start the sample command {argv[0]}: {exc.strerror or exc}"
        ) from exc
    try:
        stdout, stderr = await asyncio.wait_for(
            process.communicate(json.dumps(payload).encode()), settings.generate_timeout_s
        )
    except TimeoutError as exc:
        raise GenerationTimeout(
            f"generation took longer than {settings.generate_timeout_s:g}s "
            "(TUNIX_RT_GENERATE_TIMEOUT_S); try fewer prompts or fewer new tokens"
        ) from exc
    finally:
        # A timeout or a client gone: the child and anything it started go with the call.
        if process.returncode is None:
            _kill_group(process)
            with contextlib.suppress(ProcessLookupError):
                await process.wait()
    return _answer_of(process.returncode, stdout, stderr)


def _answer_of(code: int | None, stdout: bytes, stderr: bytes) -> dict[str, Any]:
    lines = [line for line in stdout.decode(errors="replace").splitlines() if line.strip()]
    answer: dict[str, Any] = {}
    if lines:
        with contextlib.suppress(ValueError):
            parsed = json.loads(lines[-1])
            answer = parsed if isinstance(parsed, dict) else {}
    if code == 0 and "completions" in answer:
        return answer
    tail = stderr.decode(errors="replace").strip()[-STDERR_TAIL_CHARS:]
    message = str(answer.get("error") or tail.splitlines()[-1:] or "no output")
    if code == EXIT_NO_STACK:
        raise errors.TrainingUnavailable(f"the training stack is not installed: {message}")
    if code == EXIT_INVALID:
        raise errors.ValidationFailed(message)
    raise GenerationFailed(f"generation failed (exit {code}): {message}")


async def generate(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    slots: Slots,
    run_id: uuid.UUID,
    request: GenerationRequest,
) -> GenerationResponse:
    started = time.perf_counter()
    with slots.take():
        staged = await stage(sessions, settings, run_id, request)
        try:
            payload = {
                "prompts": request.prompts,
                "max_new_tokens": request.max_new_tokens,
                "temperature": request.temperature,
                "top_p": request.top_p,
                "seed": request.seed,
                "step": staged.step,
            }
            answer = await run_child(settings, staged, payload)
        finally:
            await remove(staged.directory)
    return GenerationResponse(
        run_id=run_id,
        step=int(answer["step"]),
        completions=[GeneratedCompletion.model_validate(c) for c in answer["completions"]],
        temperature=request.temperature,
        max_new_tokens=request.max_new_tokens,
        seed=request.seed,
        prompt_tokens=[int(n) for n in answer.get("prompt_tokens", [])],
        load_s=float(answer.get("load_s", 0.0)),
        generate_s=float(answer.get("generate_s", 0.0)),
        wall_s=round(time.perf_counter() - started, 3),
    )
