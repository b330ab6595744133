"""Run shapes on the wire: the request a user submits and the records the API returns."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from tunix_rt.db import models
from tunix_rt.db.types import utcnow
from tunix_rt.runs import best, states
from tunix_rt.settings import Settings
from tunix_rt.traces.schema import check_optional_text, check_text

PRESET_MODELS = ("tiny", "small")
# model_id of a request that gave only model_path: replaced by <family>-<size> from the
# directory's config.json before the run is stored (materialize.check_model_request).
MODEL_ID_FROM_CONFIG = "from-config"
MODEL_FAMILIES = ("gemma3", "qwen3", "qwen2", "llama3")
MODEL_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._\-]{0,63}$")
MAX_TIMEOUT_S = 7 * 24 * 3600
MAX_PATH_CHARS = 4096
MAX_NAME_CHARS = 200
MAX_NOTES_CHARS = 10_000
MAX_TAGS = 20
MAX_TAG_CHARS = 64
TAG_PATTERN = r"^[A-Za-z0-9_.:-]+$"
TAG_RE = re.compile(TAG_PATTERN)
# What a person calls a run: stored in runs.name / runs.notes / run_tags, not in runs.request.
LABEL_FIELDS = frozenset({"name", "tags", "notes"})
Algorithm = Literal["sft", "grpo"]
# Taken from the init_from run (same architecture, tokenizer and LoRA shape as its checkpoint).
FROM_INIT_SOURCE = ("model_path", "lora_rank", "lora_alpha", "max_seq_length")


class GRPOSpec(BaseModel):
    """GRPO settings of a run request: the spec's `grpo`. A twin of training/spec.py's
    GRPOSpec (runs may not import training; tests/unit/test_grpo_settings.py keeps the two
    equal), with the same name so the API's schema is `GRPOSpec`."""

    model_config = ConfigDict(extra="forbid")

    num_generations: int = Field(default=4, ge=2, le=64, description="Completions per prompt.")
    # One update per batch of rollouts for now: with more, Tunix's optimizer steps and our
    # rollout steps (rewards, rollout files, resume) would not line up (training.md, GRPO).
    num_iterations: int = Field(default=1, ge=1, le=1, description="Updates per batch.")
    beta: float = Field(default=0.04, ge=0, le=10, description="KL to the initial policy.")
    epsilon: float = Field(default=0.2, gt=0, le=1, description="Clipping.")
    temperature: float = Field(default=0.9, gt=0, le=5, description="Sampling temperature.")
    max_new_tokens: int = Field(default=64, ge=1, le=4096)
    reward_correct: float = Field(default=1.0, ge=0, le=100, description="Answer correct.")
    reward_format: float = Field(default=0.2, ge=0, le=100, description="Format compliance.")
    length_penalty: float = Field(default=0.0, ge=0, le=100)
    rollout_every_steps: int = Field(default=10, ge=1, description="Store rollouts every N steps.")
    rollout_prompts: int = Field(default=4, ge=1, le=256, description="...of this many prompts.")


class InitFrom(BaseModel):
    """Start from a committed checkpoint of another training run of this service. The step
    is resolved when the run is submitted ("latest" / "best" become a number) and pinned, so
    retention keeps it."""

    model_config = ConfigDict(extra="forbid")

    run_id: uuid.UUID
    checkpoint: (
        Literal["latest", "best"] | Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)]
    ) = Field(default="latest", description='"latest", "best" or a checkpoint step.')


def check_tag(value: str) -> str:
    if not 1 <= len(value) <= MAX_TAG_CHARS or not TAG_RE.match(value):
        shown = value[:MAX_TAG_CHARS] + ("..." if len(value) > MAX_TAG_CHARS else "")
        raise ValueError(
            f"tag {shown!r} must be 1 to {MAX_TAG_CHARS} letters, digits, '_', '.', ':' or '-'"
        )
    return value


def check_tags(values: Sequence[str] | None) -> list[str] | None:
    """Tags in first-given order without repeats; at most MAX_TAGS."""
    if values is None:
        return None
    unique = list(dict.fromkeys(values))
    if len(unique) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags per run, got {len(unique)}")
    return unique


def check_name(value: str | None) -> str | None:
    """Surrounding whitespace dropped; an empty name means no name."""
    if value is None:
        return None
    value = check_text(value).strip()
    if any(c in value for c in "\r\n"):
        raise ValueError("name must be one line")
    return value or None


Tag = Annotated[
    str,
    AfterValidator(check_tag),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_TAG_CHARS, "pattern": TAG_PATTERN}),
]
TagList = Annotated[
    list[Tag], AfterValidator(check_tags), Field(json_schema_extra={"maxItems": MAX_TAGS})
]
RunName = Annotated[str, Field(max_length=MAX_NAME_CHARS), AfterValidator(check_name)]
RunNotes = Annotated[str, Field(max_length=MAX_NOTES_CHARS), AfterValidator(check_text)]
# The batch size a request that gives none trains with (runs/materialize.py DEFAULTS).
DEFAULT_BATCH_SIZE = 16
MAX_MESH_AXIS = 4096


class RunMesh(BaseModel):
    """data x model devices for one run; the child refuses (exit 2) a mesh larger than the
    devices it sees."""

    model_config = ConfigDict(extra="forbid")

    data: int = Field(default=1, ge=1, le=MAX_MESH_AXIS)
    model: int = Field(default=1, ge=1, le=MAX_MESH_AXIS)


class RunRequest(BaseModel):
    """What a user submits to POST /api/tunix/run. Everything but dataset_key is optional."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    dataset_key: str = Field(min_length=1, max_length=300)
    model_id: str = Field(default="tiny", max_length=64)
    model_path: str | None = Field(default=None, min_length=1, max_length=MAX_PATH_CHARS)
    dry_run: bool = False
    learning_rate: float | None = Field(default=None, gt=0, le=1)
    num_epochs: int | None = Field(default=None, ge=1, le=1000)
    max_steps: int | None = Field(default=None, ge=1, le=1_000_000)
    batch_size: int | None = Field(default=None, ge=1, le=4096)
    max_seq_length: int | None = Field(default=None, ge=8, le=32768)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    save_every_steps: int | None = Field(default=None, ge=1, le=1_000_000)
    keep_checkpoints: int | None = Field(default=None, ge=1, le=100)
    lora_rank: int | None = Field(default=None, ge=1, le=512)
    lora_alpha: float | None = Field(default=None, gt=0, le=1e6)
    warmup_fraction: float | None = Field(default=None, ge=0, lt=1)
    # Weights and compute precision (default float32); the device mesh (default one device).
    dtype: Literal["float32", "bfloat16"] | None = None
    mesh: RunMesh | None = None
    eval_max_examples: int | None = Field(default=None, ge=0, le=100_000)
    eval_max_new_tokens: int | None = Field(default=None, ge=1, le=4096)
    eval_every_steps: int | None = Field(default=None, ge=1)
    eval_subset_size: int | None = Field(default=None, ge=1, le=10_000)
    eval_at_checkpoints: bool = False  # also evaluate at every checkpoint step
    # The best checkpoint: best_metric (default eval/exact_match when evaluating during
    # training) by best_mode (default max for eval/*, min for loss and perplexity).
    best_metric: str | None = Field(default=None, pattern=best.BEST_METRIC_PATTERN)
    best_mode: best.BestMode | None = None
    timeout_s: int | None = Field(default=None, ge=1, le=MAX_TIMEOUT_S)
    priority: int = Field(default=0, ge=-1000, le=1000)
    max_attempts: int | None = Field(default=None, ge=1, le=20)
    name: RunName | None = None
    tags: TagList = Field(default_factory=list, description=f"At most {MAX_TAGS} tags.")
    notes: RunNotes = ""
    algorithm: Algorithm = Field(
        default="sft", description="sft: supervised fine-tuning; grpo: RL with scorer rewards."
    )
    init_from: InitFrom | None = Field(
        default=None,
        description="Start from another run's checkpoint (its model, tokenizer and LoRA shape).",
    )
    grpo: GRPOSpec | None = Field(
        default=None, description="GRPO settings (algorithm grpo; defaults when left out)."
    )

    @field_validator("dataset_key", "model_path")
    @classmethod
    def _storable_text(cls, value: str | None) -> str | None:
        return check_optional_text(value)

    @field_validator("model_path")
    @classmethod
    def _expandable_path(cls, value: str | None) -> str | None:
        # "~name/..." names a home directory: an unknown user cannot be resolved later.
        if value is not None and value.startswith("~"):
            try:
                Path(value).expanduser()
            except RuntimeError:
                user = value[1:].split("/", 1)[0]
                raise ValueError(f"~{user[:64]} is not a user on this server") from None
        return value

    @field_validator("model_id")
    @classmethod
    def _check_model_id(cls, value: str) -> str:
        if not MODEL_ID_RE.match(value):
            raise ValueError("model_id must be lowercase letters, digits, '.', '_' or '-'")
        if value in PRESET_MODELS:
            return value
        family = value.split("-", 1)[0]
        if family not in MODEL_FAMILIES or "-" not in value:
            raise ValueError(
                f"model_id must be one of {', '.join(PRESET_MODELS)} or "
                f"<family>-<size> with family in {', '.join(MODEL_FAMILIES)}"
            )
        return value

    @model_validator(mode="after")
    def _check_algorithm(self) -> RunRequest:
        if self.grpo is not None and self.algorithm != "grpo":
            raise ValueError("grpo settings need algorithm grpo")
        if self.algorithm == "grpo":
            if self.init_from is None and not self.model_path:
                raise ValueError(
                    "algorithm grpo needs init_from (a trained run's checkpoint) or model_path"
                )
            if self.grpo is None:
                self.grpo = GRPOSpec()
        if self.init_from is not None:
            given = [name for name in FROM_INIT_SOURCE if getattr(self, name) is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: taken from the init_from run, do not give "
                    f"{'it' if len(given) == 1 else 'them'}"
                )
        return self

    @model_validator(mode="after")
    def _check_model_path(self) -> RunRequest:
        if self.init_from is not None:
            pass  # model_id is the init_from run's (set when the run is submitted)
        elif self.model_id not in PRESET_MODELS and not self.model_path:
            raise ValueError(f"model_path is required for model_id {self.model_id!r}")
        if self.max_steps is not None and self.num_epochs is not None:
            raise ValueError("give max_steps or num_epochs, not both")
        if self.model_path and "model_id" not in self.model_fields_set:
            self.model_id = MODEL_ID_FROM_CONFIG  # the server names it from config.json
        if self.lora_rank is not None and self.model_id in PRESET_MODELS:
            raise ValueError("lora_rank needs a pretrained model (model_id <family>-<size>)")
        if self.lora_alpha is not None and self.lora_rank is None:
            raise ValueError("lora_alpha needs lora_rank")
        batch_size = self.batch_size if self.batch_size is not None else DEFAULT_BATCH_SIZE
        if self.mesh is not None and batch_size % self.mesh.data:
            raise ValueError(
                f"batch_size {batch_size} must be divisible by mesh.data {self.mesh.data}"
            )
        evaluating = bool(self.eval_every_steps or self.eval_at_checkpoints)
        if self.best_metric is None:
            self.best_metric = best.default_best_metric(
                self.eval_every_steps, self.eval_at_checkpoints
            )
        elif self.best_metric.startswith("eval/") and not evaluating:
            raise ValueError(
                f"best_metric {self.best_metric} needs eval_every_steps or eval_at_checkpoints"
            )
        if self.best_mode is not None and self.best_metric is None:
            raise ValueError("best_mode needs best_metric (or evaluations during training)")
        if self.best_metric is not None and self.best_mode is None:
            self.best_mode = best.default_best_mode(self.best_metric)
        return self


class RunLabelsPatch(BaseModel):
    """PATCH /api/tunix/runs/{id}: change what a run is called, in any state. A field left out
    stays as it is; `name: null` (or "") clears the name; `tags` replaces the whole set,
    `add_tags` / `remove_tags` change it."""

    model_config = ConfigDict(extra="forbid")

    name: RunName | None = None
    tags: TagList | None = None
    add_tags: TagList | None = None
    remove_tags: Annotated[list[Tag], Field(json_schema_extra={"maxItems": MAX_TAGS})] | None = (
        Field(default=None, max_length=MAX_TAGS)
    )
    notes: RunNotes | None = None

    @model_validator(mode="after")
    def _check_change(self) -> RunLabelsPatch:
        given = self.model_fields_set
        if not given:
            raise ValueError("nothing to change: give name, tags, add_tags, remove_tags or notes")
        if self.tags is not None and (self.add_tags or self.remove_tags):
            raise ValueError("give tags (the whole set) or add_tags/remove_tags, not both")
        if "tags" in given and self.tags is None:
            raise ValueError("tags must be a list (use [] to remove every tag)")
        both = set(self.add_tags or ()) & set(self.remove_tags or ())
        if both:
            raise ValueError(f"tags both added and removed: {', '.join(sorted(both))}")
        return self


def root_labels(settings: Settings) -> list[tuple[re.Pattern[str], str]]:
    """How the configured roots are shown to clients, longest first (the artifact root
    usually lies inside the home): a path under one becomes `<label>/relative/path`."""
    named = [(settings.artifacts, "<artifact_root>"), (settings.home, "<home>")]
    named += [(root, "<model_root>") for root in settings.model_roots]
    prefixes: dict[str, str] = {}
    for root, label in named:
        for form in (root, root.resolve()):
            if str(form) != "/":
                prefixes.setdefault(str(form), label)
    ordered = sorted(prefixes.items(), key=lambda item: -len(item[0]))
    return [
        (re.compile(re.escape(prefix) + r"(?![^/\s'\":,;)\]])"), lab) for prefix, lab in ordered
    ]


def hide_roots(text: str | None, labels: list[tuple[re.Pattern[str], str]]) -> str | None:
    """Absolute server paths under the configured roots, shown relative to the root."""
    if not text:
        return text
    for pattern, label in labels:
        text = pattern.sub(label, text)
    return text


class EvalSummaryOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    exact_match: float | None = None
    format_ok: float | None = None
    n: int | None = None


class RunRowOut(BaseModel):
    """A run as listed (no request, no output tails)."""

    model_config = ConfigDict(protected_namespaces=())

    run_id: uuid.UUID
    status: str
    mode: str
    dataset_key: str
    model_id: str
    dry_run: bool
    priority: int
    attempt: int
    max_attempts: int
    worker_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    exit_code: int | None
    error: str | None
    last_step: int | None
    max_steps: int | None
    log_lines: int
    log_dropped_lines: int
    eval: EvalSummaryOut | None
    retry_of: uuid.UUID | None
    kind: str
    name: str | None
    tags: list[str]
    best_step: int | None
    best_value: float | None
    sweep_id: uuid.UUID | None = None
    trial_number: int | None = None

    @classmethod
    def fields_from_model(cls, run: models.Run, tags: Sequence[str] = ()) -> dict[str, Any]:
        request = run.request or {}
        result = run.result or {}
        max_steps = result.get("max_steps", request.get("max_steps"))
        duration: float | None = None
        if run.started_at is not None:
            end = run.finished_at
            if end is None and run.status in states.ACTIVE:
                end = utcnow()
            if end is not None:
                duration = max(0.0, (end - run.started_at).total_seconds())
        retry_of = request.get("retry_of")
        return {
            "run_id": run.id,
            "status": run.status,
            "mode": run.mode,
            "dataset_key": run.dataset_key,
            "model_id": run.model_id,
            "dry_run": run.dry_run,
            "priority": run.priority,
            "attempt": run.attempt,
            "max_attempts": run.max_attempts,
            "worker_id": run.worker_id,
            "created_at": run.created_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "duration_s": duration,
            "exit_code": run.exit_code,
            "error": run.error,
            "last_step": run.last_step,
            "max_steps": int(max_steps) if max_steps is not None else None,
            "log_lines": run.log_lines,
            "log_dropped_lines": run.log_dropped_lines,
            "eval": EvalSummaryOut.model_validate(run.eval) if run.eval else None,
            "retry_of": uuid.UUID(str(retry_of)) if retry_of else None,
            "kind": run.kind,
            "name": run.name,
            "tags": list(tags),
            "best_step": run.best_step,
            "best_value": run.best_value,
            "sweep_id": run.sweep_id,
            "trial_number": run.trial_number,
        }

    @classmethod
    def from_model(cls, run: models.Run, tags: Sequence[str] = ()) -> RunRowOut:
        return cls(**RunRowOut.fields_from_model(run, tags))

    def hiding_roots(self, labels: list[tuple[re.Pattern[str], str]]) -> Self:
        """This record with server paths in `error` shown relative to the configured roots."""
        return self.model_copy(update={"error": hide_roots(self.error, labels)})


class RunOut(RunRowOut):
    """A run in full (GET /api/tunix/runs/{id}, POST responses)."""

    request: dict[str, Any]
    notes: str
    stdout_tail: str
    stderr_tail: str

    @classmethod
    def from_model(cls, run: models.Run, tags: Sequence[str] = ()) -> RunOut:
        request = {k: v for k, v in (run.request or {}).items() if k != "retry_of"}
        return cls(
            **RunRowOut.fields_from_model(run, tags),
            request=request,
            notes=run.notes or "",
            stdout_tail=run.stdout_tail,
            stderr_tail=run.stderr_tail,
        )


class RunStatusOut(BaseModel):
    run_id: uuid.UUID
    status: str
    attempt: int
    last_step: int | None
    updated_at: datetime

    @classmethod
    def from_model(cls, run: models.Run) -> RunStatusOut:
        return cls(
            run_id=run.id,
            status=run.status,
            attempt=run.attempt,
            last_step=run.last_step,
            updated_at=run.updated_at,
        )


class RunEventOut(BaseModel):
    from_status: str | None
    to_status: str
    reason: str | None
    attempt: int
    worker_id: str | None
    created_at: datetime

    @classmethod
    def from_model(cls, event: models.RunEvent) -> RunEventOut:
        return cls(
            from_status=event.from_status,
            to_status=event.to_status,
            reason=event.reason,
            attempt=event.attempt,
            worker_id=event.worker_id,
            created_at=event.created_at,
        )
