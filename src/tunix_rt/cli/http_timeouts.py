"""Deadlines for connections that stall before their request is complete (`tunix-rt serve`).

uvicorn's h11 protocol times a connection out only between requests (`timeout_keep_alive`,
armed after a response): a client that connects and sends nothing, or part of a request
line and headers, or stops in the middle of a body, holds its socket forever. This
subclass adds two deadlines:

- headers: the request line and headers must be complete within `request_timeout_s` of
  the connection (or, on a kept-alive connection, of the first byte of the next request),
  however slowly they trickle in; past it the client gets 408 and the socket is closed;
- body: while a request body is being received, the client may pause at most
  `request_timeout_s` between chunks. A pause caused by the server (reading paused because
  the app has not consumed the body yet) does not count.

Once a request is complete the app owns the connection (a log stream may stay open for
hours) and no deadline runs; after the response uvicorn's keep-alive timeout takes over.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5
TIMEOUT_BODY = b"request not received in time\n"
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(TIMEOUT_BODY)).encode() + b"\r\n\r\n" + TIMEOUT_BODY
)


class DeadlineH11Protocol(H11Protocol):
    request_timeout_s: float = REQUEST_TIMEOUT_S
    _deadline: asyncio.TimerHandle | None = None
    _deadline_kind: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._update_deadline()

    def _update_deadline(self) -> None:
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            buffered, _closed = self.conn.trailing_data
            if buffered and self._deadline_kind != "headers":
                # First bytes of a request on a kept-alive connection: the clock starts now
                # and is not reset by later bytes (a client trickling headers is cut off).
                self._arm("headers")
        elif state is h11.SEND_BODY:
            self._arm("body")  # reset on every chunk: an idle limit, not a total one
        else:
            self._disarm()

    def _arm(self, kind: str) -> None:
        self._disarm()
        self._deadline_kind = kind
        self._deadline = self.loop.call_later(self.request_timeout_s, self._on_deadline)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._deadline_kind = None

    def _on_deadline(self) -> None:
        kind = self._deadline_kind
        self._deadline = None
        self._deadline_kind = None
        if self.transport.is_closing():
            return
        if kind == "body" and self.flow.read_paused:
            self._arm("body")  # we stopped reading, the client did not stall
            return
        if kind == "headers" and self.conn.their_state is h11.IDLE:
            self.transport.write(TIMEOUT_RESPONSE)
        self.transport.close()


def deadline_protocol(request_timeout_s: float) -> type[H11Protocol]:
    """The protocol class for uvicorn.Config(http=...), with this deadline."""
    attrs: dict[str, Any] = {"request_timeout_s": request_timeout_s}
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), attrs)
