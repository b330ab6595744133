"""Bearer-token access control, active only when TUNIX_RT_API_TOKEN is set.

Where the token may come from:
- `Authorization: Bearer <token>`: every method; when sent, the only credential read.
- `?access_token=<token>`: GET and HEAD only. Browsers cannot set headers on EventSource or
  on a download link; anything else can, and a token in a URL ends up in logs and history.
- cookie `tunix_rt_token`: any method, but a state-changing one (not GET/HEAD/OPTIONS) also
  needs proof that the page sending it is ours, since a browser attaches cookies to requests
  any site makes: a `X-Requested-With` header (any value; a cross-site page cannot set it
  without a CORS preflight this service never grants) or an `Origin` naming this host.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/api/health"})
COOKIE_NAME = "tunix_rt_token"
QUERY_PARAM = "access_token"
CSRF_HEADER = "x-requested-with"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
QUERY_METHODS = frozenset({"GET", "HEAD"})
DENIED = "missing or invalid API token (Authorization: Bearer <token>)"


def is_protected(path: str) -> bool:
    if path in OPEN_PATHS:
        return False
    return path.startswith("/api") or path == "/metrics"


def is_same_origin(conn: HTTPConnection) -> bool:
    """The Origin header names the host this request was sent to (scheme aside: a TLS proxy
    in front changes it, and only the host can tell a foreign page from ours)."""
    origin = conn.headers.get("origin")
    host = conn.headers.get("host")
    if not origin or not host or origin == "null":
        return False
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    return netloc.lower() == host.strip().lower()


class TokenAuthMiddleware:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _matches(self, presented: str) -> bool:
        # The configured token is ASCII (settings); a non-ASCII one cannot match, and
        # compare_digest refuses non-ASCII str, so compare bytes only for ASCII input.
        return presented.isascii() and hmac.compare_digest(presented.encode(), self.token)

    def check(self, conn: HTTPConnection, method: str) -> tuple[int, str] | None:
        """None when the request may pass, else (status, message)."""
        scheme, _, value = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return None if self._matches(value.strip()) else (401, DENIED)
        query = conn.query_params.get(QUERY_PARAM)
        if query is not None and method in QUERY_METHODS and self._matches(query):
            return None
        cookie = conn.cookies.get(COOKIE_NAME)
        if cookie is not None and self._matches(cookie):
            if method in SAFE_METHODS or conn.headers.get(CSRF_HEADER) or is_same_origin(conn):
                return None
            return 403, (
                f"a {method} authenticated by cookie needs an X-Requested-With header or a "
                "same-origin Origin header (or use Authorization: Bearer <token>)"
            )
        if query is not None and method not in QUERY_METHODS:
            return 401, (
                f"{QUERY_PARAM} in the URL is accepted only on GET and HEAD; send "
                "Authorization: Bearer <token>"
            )
        return 401, DENIED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_protected(scope["path"]):
            refused = self.check(HTTPConnection(scope), scope["method"])
            if refused is not None:
                status, message = refused
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                response = JSONResponse({"detail": message}, status_code=status, headers=headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
