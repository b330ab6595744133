"""ORM models for every table. Migrations in db/migrations must match this metadata exactly."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tunix_rt.db.types import JSONType, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Trace(Base):
    __tablename__ = "traces"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    trace_version: Mapped[str] = mapped_column(String(64), nullable=False)
    prompt: Mapped[str] = mapped_column(Text, nullable=False)
    final_answer: Mapped[str] = mapped_column(Text, nullable=False)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    meta: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    # Denormalised from meta for filtering and listing without loading payloads.
    source: Mapped[str | None] = mapped_column(String(255), nullable=True)
    task: Mapped[str | None] = mapped_column(String(255), nullable=True)
    step_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    payload_bytes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    __table_args__ = (
        Index("ix_traces_created_at", "created_at"),
        Index("ix_traces_source_created_at", "source", "created_at"),
        Index("ix_traces_task", "task"),
    )


class TraceScore(Base):
    __tablename__ = "trace_scores"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    trace_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("traces.id", ondelete="CASCADE"), nullable=False
    )
    criteria: Mapped[str] = mapped_column(String(64), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (Index("ix_trace_scores_trace_id_criteria", "trace_id", "criteria"),)


class Dataset(Base):
    __tablename__ = "datasets"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    selection_strategy: Mapped[str] = mapped_column(String(32), nullable=False)
    seed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    holdout_fraction: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    trace_count: Mapped[int] = mapped_column(Integer, nullable=False)
    train_count: Mapped[int] = mapped_column(Integer, nullable=False)
    holdout_count: Mapped[int] = mapped_column(Integer, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class DatasetMember(Base):
    __tablename__ = "dataset_members"

    dataset_key: Mapped[str] = mapped_column(
        String(300), ForeignKey("datasets.key", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    # RESTRICT: a trace that belongs to a frozen dataset cannot be deleted.
    trace_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("traces.id", ondelete="RESTRICT"), nullable=False
    )
    split: Mapped[str] = mapped_column(String(16), nullable=False)

    __table_args__ = (Index("ix_dataset_members_trace_id", "trace_id"),)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dataset_key: Mapped[str] = mapped_column(String(300), nullable=False)
    mode: Mapped[str] = mapped_column(String(16), nullable=False, default="async")
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="pending")
    model_id: Mapped[str] = mapped_column(String(128), nullable=False)
    dry_run: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The validated request (hyper-parameters etc.), as submitted.
    request: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    timeout_s: Mapped[int] = mapped_column(Integer, nullable=False)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The fencing token: +1 on every claim, never decremented (a drain hands `attempt` back,
    # so attempt numbers can repeat; fences cannot). Every write made for an attempt is
    # conditional on runs.fence still being that attempt's fence.
    fence: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    worker_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    log_lines: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    log_dropped_lines: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    stdout_tail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    stderr_tail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    eval: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # "train" or "eval": an evaluation job runs on the same queue and workers as training.
    kind: Mapped[str] = mapped_column(
        String(16), nullable=False, default="train", server_default="train"
    )
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    # The best checkpoint by the run's chosen metric (evaluations during training).
    best_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    best_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    # A trial of a hyper-parameter sweep (sweeps/): its sweep and trial number.
    sweep_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("sweeps.id", ondelete="SET NULL"), nullable=True
    )
    trial_number: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        Index("ix_runs_sweep_trial", "sweep_id", "trial_number", unique=True),
        Index("ix_runs_claim", "status", "priority", "created_at"),
        Index("ix_runs_kind", "kind", "created_at"),
        Index("ix_runs_created_at", "created_at"),
        Index("ix_runs_dataset_key", "dataset_key"),
        Index("ix_runs_lease", "status", "lease_expires_at"),
    )


class RunTag(Base):
    __tablename__ = "run_tags"

    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_run_tags_tag", "tag"),)


class CheckpointPin(Base):
    """A checkpoint step that retention must keep, one row per reason ("evaluation:<id>",
    "export:<format>", "user")."""

    __tablename__ = "checkpoint_pins"

    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class RunEvent(Base):
    __tablename__ = "run_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )
    from_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_status: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (Index("ix_run_events_run_id", "run_id", "id"),)


class RunLogChunk(Base):
    """One line of a run's output. seq is gap-free per run, starting at 1."""

    __tablename__ = "run_log_chunks"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    stream: Mapped[str] = mapped_column(String(8), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_run_log_chunks_run_id_seq"),)


class RunMetric(Base):
    __tablename__ = "run_metrics"

    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[float] = mapped_column(Float, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class RunArtifact(Base):
    __tablename__ = "run_artifacts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(512), nullable=False)
    # Relative to the run's artifact directory; never returned to clients.
    relpath: Mapped[str] = mapped_column(String(1024), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    manifest: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        UniqueConstraint("run_id", "relpath", name="uq_run_artifacts_run_id_relpath"),
    )


class Evaluation(Base):
    """One evaluation of a model (a run's checkpoint) on a dataset split: a record with a
    summary and per-example rows, so evaluations can be ranked and compared pairwise."""

    __tablename__ = "evaluations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=True
    )
    # The run attempt that produced it (an end-of-run evaluation is fenced like any write).
    fence: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    checkpoint: Mapped[str | None] = mapped_column(String(512), nullable=True)
    dataset_key: Mapped[str] = mapped_column(String(300), nullable=False)
    split: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    scorer_version: Mapped[str] = mapped_column(String(32), nullable=False)
    n: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    exact_match: Mapped[float | None] = mapped_column(Float, nullable=True)
    format_ok: Mapped[float | None] = mapped_column(Float, nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    wall_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The eval job (a runs row of kind "eval") that produces this record; None for the
    # end-of-run evaluation of a training run.
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=True
    )

    __table_args__ = (
        Index("ix_evaluations_run_id", "run_id"),
        Index("ix_evaluations_job_id", "job_id"),
        Index("ix_evaluations_dataset_key", "dataset_key", "split"),
    )


class EvaluationExample(Base):
    """One evaluated example. example_key pairs the same example across evaluations (a
    digest of the prompt text, so two runs on one dataset pair example by example)."""

    __tablename__ = "evaluation_examples"

    evaluation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("evaluations.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    example_key: Mapped[str] = mapped_column(String(64), nullable=False)
    prompt: Mapped[str] = mapped_column(Text, nullable=False)
    expected: Mapped[str] = mapped_column(Text, nullable=False)
    generated: Mapped[str] = mapped_column(Text, nullable=False)
    extracted: Mapped[str | None] = mapped_column(Text, nullable=True)
    correct: Mapped[bool] = mapped_column(Boolean, nullable=False)
    format_ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    task: Mapped[str | None] = mapped_column(String(255), nullable=True)
    trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        Index("ix_evaluation_examples_key", "evaluation_id", "example_key"),
        Index("ix_evaluation_examples_correct", "evaluation_id", "correct"),
    )


class Sweep(Base):
    """A hyper-parameter sweep: the search it runs (space, objective, sampler, pruner) and
    what its controller needs to rebuild the Optuna study (trial_meta). Its trials are runs
    (runs.sweep_id, runs.trial_number)."""

    __tablename__ = "sweeps"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    dataset_key: Mapped[str] = mapped_column(String(300), nullable=False)
    # The validated SweepRequest (base run request, space, objective, sampler, pruner, ...).
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    # Per trial number: Optuna system attributes (the grid sampler's grid_id) and pruning.
    trial_meta: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_sweeps_status", "status"),
        Index("ix_sweeps_created_at", "created_at"),
    )


class RunRollout(Base):
    """One sampled completion of a GRPO run at a step (rollouts/step-<step>.jsonl), with the
    scorer's verdict, the reward terms and the group-relative advantage. A resumed attempt
    that samples a step again replaces that step's rows."""

    __tablename__ = "run_rollouts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )
    # The attempt (fencing token) that stored the row.
    fence: Mapped[int] = mapped_column(BigInteger, nullable=False)
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    prompt_index: Mapped[int] = mapped_column(Integer, nullable=False)
    generation: Mapped[int] = mapped_column(Integer, nullable=False)
    prompt: Mapped[str] = mapped_column(Text, nullable=False)
    expected: Mapped[str] = mapped_column(Text, nullable=False)
    completion: Mapped[str] = mapped_column(Text, nullable=False)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    correct: Mapped[bool] = mapped_column(Boolean, nullable=False)
    format_ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    rewards: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    reward: Mapped[float] = mapped_column(Float, nullable=False)
    advantage: Mapped[float] = mapped_column(Float, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        Index(
            "ix_run_rollouts_run_step", "run_id", "step", "prompt_index", "generation", unique=True
        ),
    )
