"""`tunix-rt db upgrade`: apply pending migrations."""

from __future__ import annotations

import asyncio

import typer

from tunix_rt.cli.output import command, console
from tunix_rt.settings import load_settings

app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@app.command("upgrade")
@command
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply pending migrations to TUNIX_RT_DATABASE_URL."""
    from tunix_rt.db import migrate  # alembic costs ~1 s: only this command pays for it

    settings = load_settings()
    current = asyncio.run(migrate.upgrade_database(settings.database_url, revision))
    console.print(f"database at revision {current} ({settings.database_kind})")
