"""DNS rebinding: with no token only loopback names, IP literals and configured hosts pass."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from tests.sse_client import live_server
from tunix_rt.settings import Settings

MakeClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
RUNS = "/api/tunix/runs"
TOKEN = "t0ken-for-tests"

LOOPBACK = [
    "localhost",
    "localhost:8000",
    "LOCALHOST:1",
    "localhost.",
    "127.0.0.1",
    "127.0.0.1:8000",
]
ADDRESSES = ["[::1]", "[::1]:8000", "192.168.1.10:8000", "[fe80::1]:80"]
REBOUND = ["evil.example", "evil.example:8000", "localhost.evil.example", "127.0.0.1.nip.io"]
MALFORMED = ["localhost:http", "[::1", "[::1]x", ":8000", "loc alhost"]


@pytest.mark.parametrize("host", REBOUND + MALFORMED)
async def test_only_loopback_names_and_addresses_are_served_without_token(
    make_client: MakeClient, host: str
) -> None:
    async with make_client(allowed_hosts=[]) as client:
        for method, path in (("GET", RUNS), ("POST", "/api/traces/generate"), ("GET", "/")):
            res = await client.request(
                method, path, headers={"Host": host}, json={"task": "addition", "count": 1}
            )
            assert res.status_code == 400, (host, path)
            detail = res.json()["detail"]
            assert "TUNIX_RT_ALLOWED_HOSTS" in detail and "DNS rebinding" in detail
        default_host = await client.get(RUNS)  # httpx's own Host: testserver, not configured
        assert default_host.status_code == 400 and "'testserver'" in default_host.json()["detail"]
        for allowed in LOOPBACK + ADDRESSES:
            res = await client.get(RUNS, headers={"Host": allowed})
            assert res.status_code == 200, allowed


async def test_configured_hosts_are_served(make_client: MakeClient) -> None:
    async with make_client(allowed_hosts=["tunix.internal", "*.corp.example"]) as client:
        for host in ("tunix.internal", "TUNIX.internal:8443", "gpu1.corp.example"):
            assert (await client.get(RUNS, headers={"Host": host})).status_code == 200, host
        for host in ("corp.example", "tunix.internal.evil.example", "evil.example"):
            assert (await client.get(RUNS, headers={"Host": host})).status_code == 400, host
    # With a token the token protects the API: any name is served (unless names are configured).
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with make_client(api_token=TOKEN, allowed_hosts=[]) as client:
        res = await client.get(RUNS, headers={"Host": "tunix.example.com", **auth})
        assert res.status_code == 200
        assert (await client.get(RUNS, headers={"Host": "tunix.example.com"})).status_code == 401
    async with make_client(api_token=TOKEN, allowed_hosts=["tunix.internal"]) as client:
        res = await client.get(RUNS, headers={"Host": "tunix.example.com", **auth})
        assert res.status_code == 400


async def test_real_server_refuses_a_rebound_name(settings: Settings) -> None:
    async with (
        live_server(settings.model_copy(update={"allowed_hosts": []})) as base,
        httpx.AsyncClient(timeout=30) as http,
    ):
        assert (await http.get(f"{base}{RUNS}")).status_code == 200
        port = base.rsplit(":", 1)[1]
        rebound = await http.get(f"{base}{RUNS}", headers={"Host": f"attacker.example:{port}"})
        assert rebound.status_code == 400
        assert "attacker.example" in rebound.json()["detail"]
