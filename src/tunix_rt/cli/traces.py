"""`tunix-rt traces`: commands over the HTTP API."""

from __future__ import annotations

import typer

app = typer.Typer(help="traces commands.", no_args_is_help=True)
