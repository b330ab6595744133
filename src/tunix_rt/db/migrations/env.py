"""Alembic environment: always handed a live connection by tunix_rt.db.migrate."""

from __future__ import annotations

from alembic import context

from tunix_rt.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `tunix-rt db upgrade` (tunix_rt.db.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
