"""Shared CLI output: one-line errors (traceback only with -v), tables, --json."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def verbose() -> bool:
    return os.environ.get("TUNIX_RT_VERBOSE", "") not in ("", "0")


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn expected errors into a one-line message and exit code 1."""
    from tunix_rt import errors
    from tunix_rt.cli.client import ApiError

    try:
        yield
    except typer.Exit:
        raise
    except (ApiError, errors.TunixRtError) as exc:
        if verbose():
            raise
        fail(str(getattr(exc, "message", exc)))
    except OSError as exc:
        if verbose():
            raise
        fail(str(exc))


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: wrap a command body in handle_errors."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with handle_errors():
            return fn(*args, **kwargs)

    return wrapper


def root_options(
    verbose_flag: bool = typer.Option(
        False, "--verbose", "-v", help="Show the full traceback on errors."
    ),
) -> None:
    """Options of the root command (registered by cli/app.py as the app callback)."""
    if verbose_flag:
        # Commands read this through verbose(); the env also reaches child processes.
        os.environ["TUNIX_RT_VERBOSE"] = "1"
