"""run_rollouts: the sampled completions a GRPO run stores every few steps.

One row per completion (prompt, expected answer, completion, the scorer's verdict, the
reward terms, reward and group-relative advantage), written by the attempt that owned the
run (fence). (run_id, step, prompt_index, generation) is unique: a step's rollouts written
again by a resumed attempt replace the older ones.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "run_rollouts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("fence", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("prompt_index", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("expected", sa.Text(), nullable=False),
        sa.Column("completion", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("format_ok", sa.Boolean(), nullable=False),
        sa.Column("rewards", JSON, nullable=False),
        sa.Column("reward", sa.Float(), nullable=False),
        sa.Column("advantage", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_run_rollouts_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_run_rollouts"),
    )
    op.create_index(
        "ix_run_rollouts_run_step",
        "run_rollouts",
        ["run_id", "step", "prompt_index", "generation"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_run_rollouts_run_step", table_name="run_rollouts")
    op.drop_table("run_rollouts")
