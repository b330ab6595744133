"""Request-body size limits for the traces routes, enforced before JSON parsing.

A route class rather than middleware: the limit depends on the route (single trace vs
batch) and on settings that only exist once the app has started. The declared
Content-Length is checked first, then the bytes actually received (a client can lie or
stream chunked), so an oversized body is never buffered past the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from tunix_rt import errors
from tunix_rt.settings import Settings

MAX_BATCH_TRACES = 10_000
# A batch may carry up to MAX_BATCH_TRACES traces of trace_max_bytes each, but parsing
# that much JSON in one request would need gigabytes of memory: cap it.
BATCH_MAX_BYTES_CAP = 256 * 1024 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def batch_max_bytes(settings: Settings) -> int:
    return min(settings.trace_max_bytes * MAX_BATCH_TRACES, BATCH_MAX_BYTES_CAP)


def route_max_bytes(path: str, settings: Settings) -> int:
    return batch_max_bytes(settings) if path.endswith("/batch") else settings.trace_max_bytes


async def read_body_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise errors.PayloadTooLarge(
            f"request body is {int(declared)} bytes; the limit is {limit} bytes "
            "(TUNIX_RT_TRACE_MAX_BYTES)"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.PayloadTooLarge(
                f"request body exceeds the limit of {limit} bytes (TUNIX_RT_TRACE_MAX_BYTES)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


class BodyLimitRoute(APIRoute):
    """An APIRoute that rejects oversized bodies with 413 before FastAPI parses them."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        path = self.path

        async def limited(request: Request) -> Response:
            if request.method in BODY_METHODS:
                settings: Settings = request.app.state.ctx.settings
                body = await read_body_capped(request, route_max_bytes(path, settings))
                # Starlette caches the body here; FastAPI's handler then reads the cache.
                request._body = body
            return await handler(request)

        return limited
