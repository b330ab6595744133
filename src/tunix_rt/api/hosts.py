"""DNS-rebinding guard: which names in the Host header this service answers to.

A page on evil.example can make its own name resolve to 127.0.0.1 after loading; the
browser then sends the page's requests here, same-origin, with `Host: evil.example`. Without
an API token nothing else stands in the way, so a request whose Host names anything but
this machine's loopback names (or a name the operator configured) is refused before any
route runs. An IP literal cannot be rebound (the page's origin is then that address, not a
name the attacker controls), so any IP literal is accepted. A request without a Host header
cannot come from a browser and is let through.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"localhost"})


def host_name(header: str) -> str | None:
    """The name or address of a Host header value, lower case, without port or brackets.

    None when the value is malformed (bad port, unclosed bracket, empty name).
    """
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, port = value[1:end], value[end + 1 :]
        if end < 0 or (port and not port.startswith(":")):
            return None
        port = port[1:]
    else:
        name, _, port = value.partition(":")
    if port and not (port.isdigit() and port.isascii()):
        return None
    name = name.rstrip(".")
    return name or None


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """Loopback names, IP literals and TUNIX_RT_ALLOWED_HOSTS (`*` any, `*.x` subdomains)."""

    def __init__(self, allowed: Iterable[str]) -> None:
        patterns = [host.lower().rstrip(".") for host in allowed]
        self.any = "*" in patterns
        self.names = frozenset(p for p in patterns if not p.startswith("*")) | LOOPBACK_NAMES
        self.suffixes = tuple(p[1:] for p in patterns if p.startswith("*."))

    def allows(self, name: str) -> bool:
        return (
            self.any
            or name in self.names
            or is_ip_literal(name)
            or (bool(self.suffixes) and name.endswith(self.suffixes))
        )


class HostGuardMiddleware:
    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.policy = HostPolicy(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.policy.any:
            header = Headers(scope=scope).get("host")
            if header is not None:
                name = host_name(header)
                if name is None or not self.policy.allows(name):
                    shown = header[:100]
                    response = JSONResponse(
                        {
                            "detail": f"Host {shown!r} is not served here: only localhost, "
                            "IP addresses and the names in TUNIX_RT_ALLOWED_HOSTS are accepted "
                            "(a guard against DNS rebinding); add the name to "
                            "TUNIX_RT_ALLOWED_HOSTS to serve it"
                        },
                        status_code=400,
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
