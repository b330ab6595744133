"""`tunix-rt serve`: the API, the UI and an embedded worker in one process."""

from __future__ import annotations

import typer
import uvicorn

from tunix_rt.cli.output import command, console, fail
from tunix_rt.settings import load_settings


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


@command
def serve(
    host: str | None = typer.Option(None, help="Bind address (default TUNIX_RT_HOST, 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default TUNIX_RT_PORT, 8000)."),
    workers: int = typer.Option(1, "--workers", min=0, help="Embedded workers (0 disables)."),
    insecure: bool = typer.Option(
        False, "--insecure", help="Allow a non-loopback bind without TUNIX_RT_API_TOKEN."
    ),
) -> None:
    """Migrate the database and serve the API and UI (with an embedded worker)."""
    from tunix_rt.api.app import create_app

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = load_settings(**overrides)
    if not settings.is_loopback and not settings.api_token and not insecure:
        fail(
            f"refusing to listen on {settings.host} without TUNIX_RT_API_TOKEN: anyone on the "
            "network could launch runs and read data. Set a token, or pass --insecure."
        )
    app = create_app(settings, embedded_workers=workers)
    console.print(
        f"tunix-rt serving on http://{settings.host}:{settings.port} "
        f"({settings.database_kind}, {workers} embedded worker(s))"
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
