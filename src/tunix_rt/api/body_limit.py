"""One request-body limit for every route, enforced as the body streams in (pure ASGI).

TUNIX_RT_MAX_BODY_BYTES is the default; a few routes override it (see `route_limits`). A
declared Content-Length over the limit is refused before the app runs; otherwise the bytes
actually received are counted (a client can lie or send chunked), and the first message that
crosses the limit raises BodyTooLarge out of `receive`, so no more than the limit is ever
buffered. BodyTooLarge is an HTTPException: FastAPI re-raises it from its body parsing, and
the app's error handler answers 413 with a JSON message naming the setting to raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunix_rt.settings import Settings
from tunix_rt.traces import body_limit as trace_limits

# Longer than any byte count we could accept: compare lengths before calling int().
MAX_LENGTH_DIGITS = 18
BEYOND_ANY_LIMIT: int = int("1" + "0" * MAX_LENGTH_DIGITS)


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int
    setting: str  # the variable that raises this limit, named in the 413 message


class BodyTooLarge(HTTPException):
    def __init__(self, limit: BodyLimit) -> None:
        detail = (
            f"request body is larger than the limit of {limit.max_bytes} bytes "
            f"(raise it with {limit.setting})"
        )
        super().__init__(status_code=413, detail=detail)


def route_limits(settings: Settings) -> tuple[BodyLimit, dict[str, BodyLimit]]:
    """The default limit and the per-path overrides (exact request paths)."""
    trace = BodyLimit(settings.trace_max_bytes, "TUNIX_RT_TRACE_MAX_BYTES")
    batch = BodyLimit(trace_limits.batch_max_bytes(settings), "TUNIX_RT_TRACE_MAX_BYTES")
    default = BodyLimit(settings.max_body_bytes, "TUNIX_RT_MAX_BODY_BYTES")
    return default, {"/api/traces": trace, "/api/traces/batch": batch}


def declared_length(scope: Scope) -> int | None:
    """Content-Length as sent; None when absent or not a plain number (the server decides)."""
    value = Headers(scope=scope).get("content-length")
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    digits = value.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_LENGTH_DIGITS else BEYOND_ANY_LIMIT


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, default: BodyLimit, overrides: Mapping[str, BodyLimit]
    ) -> None:
        self.app = app
        self.default = default
        self.overrides = dict(overrides)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.overrides.get(scope["path"], self.default)
        declared = declared_length(scope)
        if declared is not None and declared > limit.max_bytes:
            await self._refuse(BodyTooLarge(limit), scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            # Reached only when the app let it escape (e.g. a route that reads the stream
            # itself outside FastAPI's body parsing); after the response began it cannot be
            # answered, so it propagates as the server error it then is.
            if started:
                raise
            await self._refuse(exc, scope, receive, send)

    @staticmethod
    async def _refuse(exc: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({"detail": exc.detail}, status_code=413)
        await response(scope, receive, send)
