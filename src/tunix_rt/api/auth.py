"""Bearer-token access control, active only when TUNIX_RT_API_TOKEN is set.

Browsers cannot set headers on EventSource, so SSE (and downloads) also accept the token as
the `access_token` query parameter or the `tunix_rt_token` cookie.
"""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/api/health"})
COOKIE_NAME = "tunix_rt_token"
QUERY_PARAM = "access_token"


def _presented_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return conn.query_params.get(QUERY_PARAM) or conn.cookies.get(COOKIE_NAME)


def is_protected(path: str) -> bool:
    if path in OPEN_PATHS:
        return False
    return path.startswith("/api") or path == "/metrics"


class TokenAuthMiddleware:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_protected(scope["path"]):
            presented = _presented_token(HTTPConnection(scope))
            if presented is None or not hmac.compare_digest(presented, self.token):
                response = JSONResponse(
                    {"detail": "missing or invalid API token (Authorization: Bearer <token>)"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
