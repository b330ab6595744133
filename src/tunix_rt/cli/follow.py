"""Follow a run over SSE like `kubectl logs -f`: resume without duplicates, live progress bar.

The server numbers log lines (`seq`) and resumes a stream from `since_seq`. The follower keeps
the highest seq it has printed and, when the connection drops (server restart, proxy timeout),
reconnects with `since_seq` = that seq, so no line is lost and none is printed twice. Lines are
skipped when `seq <= last_seq` as well, in case a server replays the boundary line. Metric and
status events carry no seq; a replayed one only redraws the bar, which is harmless.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import SSEError, connect_sse
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tunix_rt.cli.client import ApiError, Client, describe_error

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "timeout"})
CONNECT_TIMEOUT_S = 10.0
# Heartbeats arrive every 15 s by default; three missed ones mean the connection is dead.
READ_TIMEOUT_S = 50.0
# How long the follower keeps retrying an unreachable server before giving up.
RECONNECT_WINDOW_S = 120.0
RECONNECT_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 3.0)
RETRYABLE_STATUS = frozenset({502, 503, 504})


@dataclass
class Event:
    kind: str
    data: dict[str, Any]


def stream_run_events(
    client: Client,
    run_id: str,
    since_seq: int = 0,
    *,
    notice: Console | None = None,
    reconnect_window_s: float = RECONNECT_WINDOW_S,
) -> Iterator[Event]:
    """Yield log/metric/status/truncated events, then one `end` event; reconnect on drops."""
    last_seq = since_seq
    failed_since: float | None = None
    attempt = 0
    timeout = httpx.Timeout(CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S)
    while True:
        reason = "the stream closed before the run ended"
        try:
            with connect_sse(
                client.http,
                "GET",
                f"/api/tunix/runs/{run_id}/logs",
                params={"since_seq": last_seq},
                timeout=timeout,
            ) as source:
                response = source.response
                if response.status_code >= 400:
                    response.read()
                    if response.status_code not in RETRYABLE_STATUS:
                        raise ApiError(
                            describe_error(response), response.status_code, response.text
                        )
                    reason = f"the server answered {response.status_code}"
                else:
                    for sse in source.iter_sse():
                        if sse.event == "heartbeat":
                            # Only progress (a live heartbeat, a new line) resets the backoff:
                            # every connection replays status and metrics, so a server that
                            # keeps closing streams must not be hammered forever.
                            failed_since, attempt = None, 0
                            continue
                        data = _decode(sse.data)
                        if sse.event == "error":
                            reason = f"server error: {data.get('detail', 'unknown')}"
                            continue
                        if sse.event == "log":
                            seq = int(data.get("seq", 0))
                            if seq <= last_seq:
                                continue
                            last_seq = seq
                            failed_since, attempt = None, 0
                        yield Event(sse.event, data)
                        if sse.event == "end":
                            return
        except (httpx.TransportError, SSEError) as exc:
            reason = _describe_transport_error(exc)
        now = time.monotonic()
        failed_since = failed_since if failed_since is not None else now
        if now - failed_since > reconnect_window_s:
            raise ApiError(
                f"lost the log stream of run {run_id} ({reason}) and could not reconnect to "
                f"{client.base} for {reconnect_window_s:.0f} s"
            )
        if notice is not None:
            notice.print(
                f"[dim]connection lost ({reason}); resuming after line {last_seq}…[/dim]",
                highlight=False,
            )
        time.sleep(RECONNECT_BACKOFF_S[min(attempt, len(RECONNECT_BACKOFF_S) - 1)])
        attempt += 1


def event_status(event: Event, current: str) -> str:
    """The status a `status`/`end` event reports; an `end` without one means the run was
    deleted while we followed it."""
    value = event.data.get("status")
    if value:
        return str(value)
    return str(event.data.get("reason") or "deleted") if event.kind == "end" else current


def _decode(raw: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"text": raw}
    return value if isinstance(value, dict) else {"value": value}


def _describe_transport_error(exc: Exception) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "server unreachable"
    if isinstance(exc, httpx.ReadTimeout):
        return "no data or heartbeat for a while"
    return type(exc).__name__


class TrainingProgress:
    """A Rich progress bar (step / max_steps, loss, tokens/s, ETA) with the log scrolling above."""

    def __init__(self, console: Console, max_steps: int | None, status: str) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[tps]} tok/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task(status, total=max_steps, loss="-", tps="-")
        self.last_step = 0

    def __enter__(self) -> TrainingProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    @property
    def has_total(self) -> bool:
        return self.progress.tasks[0].total is not None

    def set_total(self, max_steps: int | None) -> None:
        if max_steps:
            self.progress.update(self.task, total=max_steps)

    def show_status(self, status: str) -> None:
        self.progress.update(self.task, description=status)

    def show_metric(self, step: int, values: dict[str, Any]) -> None:
        # Every (re)connection replays the run's metrics from step 1: never move backwards.
        if step < self.last_step:
            return
        self.last_step = step
        fields: dict[str, Any] = {"completed": step, "description": "training"}
        if isinstance(values.get("loss"), int | float):
            fields["loss"] = f"{values['loss']:.4f}"
        if isinstance(values.get("tokens_per_s"), int | float):
            fields["tps"] = f"{values['tokens_per_s']:,.0f}"
        self.progress.update(self.task, **fields)


def print_log_line(console: Console, data: dict[str, Any]) -> None:
    text = str(data.get("text", "")).rstrip("\n")
    style = "red" if data.get("stream") == "stderr" else None
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


def follow_run(
    client: Client,
    run_id: str,
    *,
    since_seq: int = 0,
    console: Console,
    notice: Console,
    show_progress: bool = True,
    json_lines: bool = False,
) -> str:
    """Print the run's log until it ends; return the terminal status."""
    if json_lines:
        return _follow_json(client, run_id, since_seq, notice)
    if not show_progress:
        status = "unknown"
        for event in stream_run_events(client, run_id, since_seq, notice=notice):
            if event.kind == "log":
                print_log_line(console, event.data)
            elif event.kind == "truncated":
                notice.print(f"[yellow]… {event.data.get('dropped', '?')} lines dropped[/yellow]")
            elif event.kind in ("status", "end"):
                status = event_status(event, status)
        return status
    run = client.get_json(f"/api/tunix/runs/{run_id}")
    with TrainingProgress(console, run.get("max_steps"), str(run["status"])) as bar:
        return _follow_with_bar(client, run_id, since_seq, bar, notice, str(run["status"]))


def _follow_with_bar(
    client: Client,
    run_id: str,
    since_seq: int,
    bar: TrainingProgress,
    notice: Console,
    status: str,
) -> str:
    metrics_seen = 0
    for event in stream_run_events(client, run_id, since_seq, notice=notice):
        if event.kind == "log":
            print_log_line(bar.console, event.data)
        elif event.kind == "metric":
            metrics_seen += 1
            if not bar.has_total and metrics_seen % 20 == 1:
                # max_steps may only be known once the trainer reports it (num_epochs runs).
                bar.set_total(client.get_json(f"/api/tunix/runs/{run_id}").get("max_steps"))
            bar.show_metric(int(event.data.get("step", 0)), event.data.get("values") or {})
        elif event.kind == "truncated":
            bar.console.print(f"[yellow]… {event.data.get('dropped', '?')} lines dropped[/yellow]")
        elif event.kind in ("status", "end"):
            status = event_status(event, status)
            bar.show_status(status)
    return status


def _follow_json(client: Client, run_id: str, since_seq: int, notice: Console) -> str:
    status = "unknown"
    for event in stream_run_events(client, run_id, since_seq, notice=notice):
        sys.stdout.write(json.dumps({"event": event.kind, **event.data}) + "\n")
        sys.stdout.flush()
        if event.kind in ("status", "end"):
            status = event_status(event, status)
    return status


def report_outcome(
    client: Client, run_id: str, status: str, console: Console, notice: Console
) -> int:
    """Print the eval summary of a finished run (its error on `notice`); return the exit code."""
    from tunix_rt.cli import runs_render

    run = client.get_json(f"/api/tunix/runs/{run_id}")
    status = str(run.get("status", status))
    if run.get("eval"):
        console.print()
        runs_render.print_eval_summary(console, run["eval"])
    took = runs_render.format_duration(run.get("duration_s"))
    if status == "completed":
        console.print(f"[green]run {run_id} completed[/green] in {took}", highlight=False)
        return 0
    detail = f": {run['error']}" if run.get("error") else ""
    notice.print(f"[red]run {run_id} {status}[/red]{detail}", highlight=False, soft_wrap=True)
    return 1
