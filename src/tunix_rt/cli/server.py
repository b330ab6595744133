"""`tunix-rt serve`: the API, the UI and an embedded worker in one process."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import typer
import uvicorn

from tunix_rt.cli import http_timeouts
from tunix_rt.cli.output import command, console, err_console, fail
from tunix_rt.cli.serve_stop import DrainingServer
from tunix_rt.settings import Settings, load_settings

READY_TIMEOUT_S = 120.0
READY_POLL_S = 0.2
# Open log streams (an SSE client following a run that is still going) never end by
# themselves; without a limit uvicorn's graceful shutdown would wait for them forever.
# Clients resume from their last seq, so cutting them after a moment loses nothing.
GRACEFUL_SHUTDOWN_S = 3


class _QuietForcedShutdown(logging.Filter):
    """Drop uvicorn's traceback for streams it cancels after GRACEFUL_SHUTDOWN_S: that is
    the intended way those streams end, not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


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
    demo: bool = typer.Option(
        False, "--demo", help="On an empty home, run the demo (traces, dataset, tiny run)."
    ),
    drain_timeout: float | None = typer.Option(
        None,
        "--drain-timeout",
        min=0,
        metavar="SECONDS",
        help="On Ctrl-C, how long a running run may go on before it is checkpointed and "
        "queued again (default TUNIX_RT_DRAIN_TIMEOUT_S, 30).",
    ),
    request_timeout: float = typer.Option(
        http_timeouts.REQUEST_TIMEOUT_S,
        "--request-timeout",
        min=0.1,
        envvar="TUNIX_RT_REQUEST_TIMEOUT_S",
        metavar="SECONDS",
        help="Close connections whose request line and headers take longer, or whose body "
        "pauses longer.",
    ),
    keep_alive: int = typer.Option(
        http_timeouts.KEEP_ALIVE_S,
        "--keep-alive",
        min=1,
        envvar="TUNIX_RT_KEEP_ALIVE_S",
        metavar="SECONDS",
        help="Close idle connections between requests after this long.",
    ),
) -> None:
    """Migrate the database and serve the API and UI (with an embedded worker).

    Ctrl-C (or SIGTERM) stops it: a running run gets --drain-timeout seconds to finish, then
    it is checkpointed and queued again; a second Ctrl-C does that at once.
    """
    from tunix_rt.api.app import create_app

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if drain_timeout is not None:
        overrides["drain_timeout_s"] = drain_timeout
    settings = load_settings(**overrides)
    if not settings.is_loopback and not settings.api_token and not insecure:
        fail(
            f"refusing to listen on {settings.host} without TUNIX_RT_API_TOKEN: anyone on the "
            "network could launch runs and read data. Set a token, or pass --insecure."
        )
    app = create_app(settings, embedded_workers=workers)
    console.print(
        f"tunix-rt serving on [bold]{local_url(settings)}[/bold] "
        f"({settings.database_kind}, {workers} embedded worker(s)); Ctrl-C stops it",
        highlight=False,
        soft_wrap=True,
    )
    if demo:
        if workers == 0:
            err_console.print("[yellow]--demo with --workers 0: the demo run waits for a worker")
        # A daemon thread: it talks to this server over HTTP like any client and dies with it.
        threading.Thread(target=run_demo_when_ready, args=(settings,), daemon=True).start()
    logging.getLogger("uvicorn.error").addFilter(_QuietForcedShutdown())
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        http=http_timeouts.deadline_protocol(request_timeout),
        timeout_keep_alive=keep_alive,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = DrainingServer(config, settings)
    server.run()
    if server.started:
        console.print("tunix-rt stopped", highlight=False)


def local_url(settings: Settings) -> str:
    """The URL a browser or client on this machine uses (wildcard binds map to loopback)."""
    host = settings.host
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def run_demo_when_ready(settings: Settings) -> None:
    """Wait for the server to answer; on a home without traces run the demo flow against it."""
    from tunix_rt.cli import demo as demo_cli
    from tunix_rt.cli.client import ApiError, Client

    with Client(local_url(settings)) as client:
        if settings.api_token:
            client.http.headers["Authorization"] = f"Bearer {settings.api_token}"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                client.get_json("/api/health")
                break
            except ApiError:
                if time.monotonic() > deadline:
                    err_console.print("[red]demo: the server did not come up; skipped[/red]")
                    return
                time.sleep(READY_POLL_S)
        try:
            if client.get_json("/api/traces", params={"limit": 1})["data"]:
                console.print(
                    "[dim]demo skipped: this home already has traces "
                    f"(open {client.base}, or run `tunix-rt demo` for another run)[/dim]",
                    highlight=False,
                    soft_wrap=True,
                )
                return
            console.print("[bold]empty home: running the demo[/bold]")
            demo_cli.run_demo(client, out=console, notice=err_console)
        except ApiError as exc:
            err_console.print(f"[red]demo failed:[/red] {exc.message}", highlight=False)
        except Exception as exc:  # the thread must not take the server down with a traceback
            err_console.print(f"[red]demo failed:[/red] {exc!r}", highlight=False)
        console.print(
            f"still serving on [bold]{client.base}[/bold]; Ctrl-C stops it", soft_wrap=True
        )
