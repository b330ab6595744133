"""Run kinds (train | eval jobs on one queue), names/tags/notes, best checkpoint, pins.

- runs.kind: "train" or "eval" (an evaluation is a job on the same queue and workers).
- runs.name, runs.notes and run_tags: what a person calls a run and finds it by.
- runs.best_step / best_value: the run's best checkpoint by its chosen metric.
- checkpoint_pins: checkpoints that retention must keep (an evaluation, an export, a
  person's pin), one row per reason.
- evaluations.job_id: the eval job that produces the record (null for end-of-run ones).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="train")
        )
        batch.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("notes", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("best_step", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("best_value", sa.Float(), nullable=True))
        batch.create_index("ix_runs_kind", ["kind", "created_at"])
    op.create_table(
        "run_tags",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_run_tags_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "tag", name="pk_run_tags"),
    )
    op.create_index("ix_run_tags_tag", "run_tags", ["tag"])
    op.create_table(
        "checkpoint_pins",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_checkpoint_pins_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "step", "reason", name="pk_checkpoint_pins"),
    )
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("job_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_evaluations_job_id_runs", "runs", ["job_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_evaluations_job_id", ["job_id"])


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_index("ix_evaluations_job_id")
        batch.drop_constraint("fk_evaluations_job_id_runs", type_="foreignkey")
        batch.drop_column("job_id")
    op.drop_table("checkpoint_pins")
    op.drop_index("ix_run_tags_tag", table_name="run_tags")
    op.drop_table("run_tags")
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_kind")
        for column in ("best_value", "best_step", "notes", "name", "kind"):
            batch.drop_column(column)
