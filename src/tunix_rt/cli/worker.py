"""`tunix-rt worker`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `worker` command to the root app."""
    return None
