"""Test harness for the live log stream: a real uvicorn server and a real SSE client.

httpx's ASGI transport buffers whole responses, so SSE tests talk HTTP to a uvicorn server
started in the test's event loop on a free port, and parse the stream with httpx-sse.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from httpx_sse import aconnect_sse

from tunix_rt.settings import Settings


class _QuietServer(uvicorn.Server):
    """uvicorn without signal handlers (pytest owns them)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def live_server(settings: Settings, **app_kwargs: Any) -> AsyncIterator[str]:
    """Serve create_app(settings) on 127.0.0.1:<free port>; yields the base URL."""
    from tunix_rt.api.app import create_app

    app = create_app(settings, migrate_db=False, **app_kwargs)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        timeout_graceful_shutdown=1,
        lifespan="on",
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            task.result() if task.done() else None
            raise RuntimeError("uvicorn did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


@dataclass(frozen=True)
class Event:
    event: str
    data: dict[str, Any]
    # The stream's last event id (SSE keeps it across events that carry none).
    id: str | None = field(default=None, compare=False)


async def iter_events(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[Event]:
    """Yield parsed events of one SSE connection until the server closes it."""
    headers = dict(headers or {})
    async with aconnect_sse(client, "GET", url, params=params, headers=headers) as source:
        source.response.raise_for_status()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        async for sse in source.aiter_sse():
            if not sse.data:
                continue  # a bare `retry:` field
            yield Event(sse.event, json.loads(sse.data) if sse.data else {}, sse.id or None)


async def read_until_end(
    client: httpx.AsyncClient, url: str, *, timeout_s: float = 30, **kwargs: Any
) -> list[Event]:
    """Every event of one connection; the last one must be `end`."""
    events: list[Event] = []

    async def consume() -> None:
        async for event in iter_events(client, url, **kwargs):
            events.append(event)

    await asyncio.wait_for(consume(), timeout_s)
    return events


def log_texts(events: list[Event]) -> list[str]:
    return [e.data["text"] for e in events if e.event == "log"]


@dataclass
class ReconnectResult:
    texts: list[str]
    connections: int
    end_status: str | None


async def read_with_reconnects(
    client: httpx.AsyncClient,
    url: str,
    *,
    seed: int,
    max_lines_per_connection: int,
    progress: dict[str, int] | None = None,
) -> ReconnectResult:
    """Follow a run to `end`, dropping the connection after a random number of lines and
    resuming with Last-Event-ID each time; asserts no gap and no duplicate on the way."""
    rng = random.Random(seed)
    texts: list[str] = []
    last, connections, end_status, ended = 0, 0, None, False
    while not ended:
        budget = rng.randint(1, max_lines_per_connection)
        headers = {"Last-Event-ID": str(last)} if last else None
        connections += 1
        async with contextlib.aclosing(iter_events(client, url, headers=headers)) as events:
            async for event in events:
                assert not ended, f"{event.event} after end"
                if event.event == "end":
                    end_status, ended = event.data["status"], True
                elif event.event == "log":
                    assert event.data["seq"] == last + 1, f"gap or duplicate after {last}"
                    last = event.data["seq"]
                    texts.append(event.data["text"])
                    if progress is not None:
                        progress["last_seq"] = last
                    budget -= 1
                    if budget == 0:
                        break
    return ReconnectResult(texts, connections, end_status)
