"""One request-body limit on every route (TUNIX_RT_MAX_BODY_BYTES), 413 as the body streams in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx

from tests.sse_client import live_server
from tunix_rt.settings import Settings

MakeClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
LIMIT = 64 * 1024
CHUNK = b" " * LIMIT
JSON = {"content-type": "application/json"}


class CountingBody:
    """A streamed request body that records how much of it the server pulled."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield CHUNK


async def test_chunked_body_over_limit_is_413_without_reading_the_rest(
    make_client: MakeClient,
) -> None:
    body = CountingBody(chunks=1000)  # 64 MiB if it were all read
    async with make_client(max_body_bytes=LIMIT) as client:
        res = await client.post("/api/datasets/preview", content=body, headers=JSON)
        assert res.status_code == 413
        detail = res.json()["detail"]
        assert str(LIMIT) in detail and "TUNIX_RT_MAX_BODY_BYTES" in detail
        assert body.pulled <= 2
        # A body under the limit still reaches the route.
        ok = await client.post("/api/datasets/preview", json={"filters": {}})
        assert ok.status_code == 200 and ok.json() == {"trace_count": 0}
    # The traces routes keep their own limits, below and above the service default.
    async with make_client(max_body_bytes=LIMIT, trace_max_bytes=4096) as client:
        res = await client.post("/api/traces", content=CountingBody(2), headers=JSON)
        assert res.status_code == 413 and "TUNIX_RT_TRACE_MAX_BYTES" in res.json()["detail"]
        # The batch limit (TRACE_MAX_BYTES x 10,000) is above the default: this body is parsed.
        res = await client.post("/api/traces/batch", content=CountingBody(4), headers=JSON)
        assert res.status_code == 422


async def test_declared_length_over_limit_is_413_before_any_byte_is_read(
    make_client: MakeClient,
) -> None:
    body = CountingBody(chunks=1)
    headers = {**JSON, "content-length": str(10**9)}
    async with make_client(max_body_bytes=LIMIT) as client:
        for path in ("/api/datasets/build", "/api/tunix/run", "/api/traces/generate"):
            body.pulled = 0
            res = await client.post(path, content=body, headers=headers)
            assert res.status_code == 413, path
            assert "TUNIX_RT_MAX_BODY_BYTES" in res.json()["detail"]
            assert body.pulled == 0


async def _raw_request(base: str, head: bytes, body_parts: list[bytes]) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        for part in body_parts:
            writer.write(part)
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    finally:
        writer.close()


async def test_real_server_refuses_oversized_bodies(settings: Settings) -> None:
    limited = settings.model_copy(update={"max_body_bytes": LIMIT})
    async with live_server(limited) as base:
        declared = (
            b"POST /api/datasets/preview HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n"
        )
        status_line = await _raw_request(base, declared, [b"{"])
        assert status_line.startswith(b"HTTP/1.1 413"), status_line
        chunked = (
            b"POST /api/datasets/preview HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        parts: list[Any] = [b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) for _ in range(4)]
        status_line = await _raw_request(base, chunked, parts)
        assert status_line.startswith(b"HTTP/1.1 413"), status_line
