"""runs.fence: the fencing token of the attempt that owns a run.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("fence", sa.BigInteger(), nullable=False, server_default="0"))
    # Existing runs: the attempt counter is the best fence there is.
    op.execute("UPDATE runs SET fence = attempt")


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("fence")
