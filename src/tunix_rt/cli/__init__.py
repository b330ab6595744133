"""The `tunix-rt` command: thin commands over the HTTP API and the service layer."""

from __future__ import annotations

import sys

from tunix_rt.cli.app import app


def main() -> None:
    """Console-script entry point."""
    sys.exit(app(standalone_mode=True) or 0)


__all__ = ["app", "main"]
