"""Access control: bearer token on every /api route and /metrics (SSE and downloads too)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import run_rows
from tests.sse_client import live_server, log_texts, read_until_end
from tunix_rt.settings import Settings

Sessions = async_sessionmaker[AsyncSession]
MakeClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
TOKEN = "t0ken-for-tests"
RUNS = "/api/tunix/runs"
GENERATE = {"task": "addition", "count": 1}


async def test_token_required_on_api_and_metrics(make_client: MakeClient) -> None:
    async with make_client(api_token=TOKEN) as client:
        for path in (RUNS, "/metrics", f"{RUNS}/00000000-0000-0000-0000-000000000000/status"):
            denied = await client.get(path)
            assert denied.status_code == 401, path
            assert "token" in denied.json()["detail"]
            assert denied.headers["www-authenticate"] == "Bearer"
            wrong = await client.get(path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401, path
        assert (await client.get(RUNS, headers={"Authorization": f"Bearer {TOKEN}"})).json()[
            "data"
        ] == []
        metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert metrics.status_code == 200 and "tunix_rt_sse_clients" in metrics.text
        assert (await client.get(RUNS, params={"access_token": TOKEN})).status_code == 200
        client.cookies.set("tunix_rt_token", TOKEN)
        assert (await client.get(RUNS)).status_code == 200
        client.cookies.clear()
        health = await client.get("/api/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"


async def test_no_token_configured_means_open_api(client: httpx.AsyncClient) -> None:
    assert (await client.get(RUNS)).status_code == 200
    assert (await client.get("/metrics")).status_code == 200


async def test_download_link_with_query_token(
    make_client: MakeClient, sessions: Sessions, settings: Settings
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed")
    run_rows.write_file(settings.artifacts / str(run_id) / "eval.json", b"{}")
    artifact_id = await run_rows.add_artifact(sessions, run_id, "eval.json", content=b"{}")
    url = f"{RUNS}/{run_id}/artifacts/{artifact_id}/download"
    async with make_client(api_token=TOKEN) as client:
        assert (await client.get(url)).status_code == 401
        ok = await client.get(url, params={"access_token": TOKEN})
        assert ok.status_code == 200 and ok.content == b"{}"


async def test_sse_requires_token_via_header_query_or_cookie(
    settings: Settings, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed")
    await run_rows.add_lines(sessions, run_id, ["hello", "world"])
    async with (
        live_server(settings.model_copy(update={"api_token": TOKEN})) as base,
        httpx.AsyncClient(timeout=30) as http,
    ):
        url = f"{base}{RUNS}/{run_id}/logs"
        denied = await http.get(url)
        assert denied.status_code == 401
        by_query = await read_until_end(http, url, params={"access_token": TOKEN})
        assert log_texts(by_query) == ["hello", "world"]
        by_header = await read_until_end(http, url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert log_texts(by_header) == ["hello", "world"]
        by_cookie = await read_until_end(http, url, headers={"Cookie": f"tunix_rt_token={TOKEN}"})
        assert by_cookie[-1].event == "end"


async def test_query_token_only_on_get_and_head(make_client: MakeClient) -> None:
    missing = f"/api/traces/{uuid.uuid4()}"
    async with make_client(api_token=TOKEN) as client:
        query = {"access_token": TOKEN}
        assert (await client.get(RUNS, params=query)).status_code == 200
        assert (await client.head(RUNS, params=query)).status_code != 401
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            res = await client.request(method, missing, params=query)
            assert res.status_code == 401, method
            assert "only on GET and HEAD" in res.json()["detail"]
        res = await client.post("/api/traces/generate", params=query, json=GENERATE)
        assert res.status_code == 401
        # The header works on every method.
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.delete(missing, headers=auth)).status_code == 404
        res = await client.post("/api/traces/generate", headers=auth, json=GENERATE)
        assert res.status_code == 201


async def test_cookie_changes_need_csrf_proof(make_client: MakeClient) -> None:
    missing = f"/api/traces/{uuid.uuid4()}"
    async with make_client(api_token=TOKEN) as client:
        client.cookies.set("tunix_rt_token", TOKEN)
        assert (await client.get(RUNS)).status_code == 200  # reads need no proof
        for method in ("POST", "DELETE", "PUT", "PATCH"):
            res = await client.request(method, missing)
            assert res.status_code == 403, method
            assert "X-Requested-With" in res.json()["detail"]
            foreign = await client.request(
                method, missing, headers={"Origin": "http://evil.example"}
            )
            assert foreign.status_code == 403, method
            null = await client.request(method, missing, headers={"Origin": "null"})
            assert null.status_code == 403, method
        proofs = [{"X-Requested-With": "tunix-rt"}, {"Origin": "http://testserver"}]
        for headers in proofs:
            assert (await client.delete(missing, headers=headers)).status_code == 404, headers
        res = await client.post(
            "/api/traces/generate", json=GENERATE, headers={"X-Requested-With": "tunix-rt"}
        )
        assert res.status_code == 201
        client.cookies.set("tunix_rt_token", "wrong")
        wrong = await client.delete(missing, headers={"X-Requested-With": "tunix-rt"})
        assert wrong.status_code == 401


def _serve(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TUNIX_RT_")}
    clean.update({"TUNIX_RT_HOME": str(tmp_path / "home"), "TUNIX_RT_PORT": "1", **env})
    return subprocess.run(
        [str(Path(sys.executable).parent / "tunix-rt"), "serve", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])
def test_serve_refuses_non_loopback_bind_without_token(tmp_path: Path, host: str) -> None:
    result = _serve(["--host", host], tmp_path)
    _assert_refused(result, host, tmp_path)


@pytest.mark.parametrize("blank", ["   ", " \t "])
def test_serve_refuses_non_loopback_bind_with_blank_token(tmp_path: Path, blank: str) -> None:
    result = _serve(["--host", "0.0.0.0"], tmp_path, TUNIX_RT_API_TOKEN=blank)
    _assert_refused(result, "0.0.0.0", tmp_path)


def _assert_refused(result: subprocess.CompletedProcess[str], host: str, tmp_path: Path) -> None:
    assert result.returncode == 1
    message = " ".join((result.stderr + result.stdout).split())
    assert f"refusing to listen on {host} without TUNIX_RT_API_TOKEN" in message
    assert "--insecure" in message
    assert not (tmp_path / "home" / "tunix-rt.db").exists()  # refused before touching anything
