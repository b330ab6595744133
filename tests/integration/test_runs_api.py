"""POST /api/tunix/run (async and sync), cancel, retry; and /metrics queue figures."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.worker_helpers import DATASET_KEY, child_command, ensure_dataset
from tunix_rt.runs import queue

Sessions = async_sessionmaker[AsyncSession]
MakeClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_async_submit_returns_pending_run(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await ensure_dataset(sessions)
    response = await client.post(
        "/api/tunix/run", json={"dataset_key": DATASET_KEY, "max_steps": 5, "priority": 3}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "pending" and body["mode"] == "async"
    assert body["request"]["max_steps"] == 5 and body["priority"] == 3
    assert body["max_steps"] == 5 and body["retry_of"] is None and body["attempt"] == 0
    async with sessions() as session:
        run = await queue.read_run(session, uuid.UUID(body["run_id"]))
    assert run.status == "pending" and run.timeout_s == 3600


async def test_unknown_dataset_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/tunix/run", json={"dataset_key": "nope-v1"})
    assert response.status_code == 404 and "nope-v1" in response.json()["detail"]


async def test_invalid_fields_are_422_naming_the_field(client: httpx.AsyncClient) -> None:
    bad = [
        ({"learning_rate": 0}, "learning_rate"),
        ({"learning_rate": 2}, "learning_rate"),
        ({"batch_size": 5000}, "batch_size"),
        ({"max_steps": 0}, "max_steps"),
        ({"priority": 1001}, "priority"),
        ({"max_attempts": 21}, "max_attempts"),
        ({"timeout_s": 8 * 24 * 3600}, "timeout_s"),
        ({"command": "rm -rf /"}, "command"),
        ({"model_id": "gpt5"}, "model_id"),
    ]
    for extra, field in bad:
        response = await client.post("/api/tunix/run", json={"dataset_key": "x-v1", **extra})
        assert response.status_code == 422, (extra, response.text)
        assert field in response.json()["detail"], (field, response.json())
    response = await client.post("/api/tunix/run?mode=later", json={"dataset_key": "x-v1"})
    assert response.status_code == 422


async def test_model_path_must_be_under_model_roots(
    make_client: MakeClient, sessions: Sessions, tmp_path: Path
) -> None:
    await ensure_dataset(sessions)
    root = tmp_path / "models"
    (root / "gemma").mkdir(parents=True)
    async with make_client(model_roots=[root.resolve()]) as c:
        body = {"dataset_key": DATASET_KEY, "model_id": "gemma3-270m"}
        outside = await c.post("/api/tunix/run", json={**body, "model_path": "/etc"})
        assert outside.status_code == 422 and "model_path" in outside.json()["detail"]
        sneaky = await c.post(
            "/api/tunix/run", json={**body, "model_path": str(root / "gemma" / ".." / "..")}
        )
        assert sneaky.status_code == 422
        missing = await c.post("/api/tunix/run", json=body)
        assert missing.status_code == 422 and "model_path" in missing.json()["detail"]
        inside = await c.post("/api/tunix/run", json={**body, "model_path": str(root / "gemma")})
        assert inside.status_code == 202, inside.text


async def test_sync_mode_waits_for_terminal_state(
    make_client: MakeClient, sessions: Sessions
) -> None:
    await ensure_dataset(sessions)
    async with make_client(
        worker_command=child_command("ok"), app_kwargs={"embedded_workers": 1}
    ) as c:
        response = await c.post(
            "/api/tunix/run?mode=sync&wait_s=30", json={"dataset_key": DATASET_KEY}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "completed" and body["mode"] == "sync"
        assert body["eval"]["n"] == 2 and body["last_step"] == 3
        metrics = (await c.get("/metrics")).text
    assert 'tunix_rt_runs{mode="sync",status="completed"} 1.0' in metrics
    assert "tunix_rt_enqueue_to_claim_seconds_count 1.0" in metrics
    assert 'tunix_rt_run_duration_seconds_count{status="completed"} 1.0' in metrics
    assert "tunix_rt_log_lines_ingested_total 3.0" in metrics


async def test_sync_mode_times_out_with_202(make_client: MakeClient, sessions: Sessions) -> None:
    await ensure_dataset(sessions)
    async with make_client(
        worker_command=child_command("sleep", "30"),
        app_kwargs={"embedded_workers": 1},
        drain_timeout_s=0,
    ) as c:
        response = await c.post(
            "/api/tunix/run?mode=sync&wait_s=0.5", json={"dataset_key": DATASET_KEY}
        )
        assert response.status_code == 202
        assert response.json()["status"] in {"pending", "running"}
        metrics = (await c.get("/metrics")).text
        assert "tunix_rt_active_workers 1.0" in metrics
        run_id = response.json()["run_id"]
        cancel = await c.post(f"/api/tunix/runs/{run_id}/cancel")
        assert cancel.status_code == 200 and cancel.json()["status"] == "cancel_requested"


async def test_cancel_and_retry_routes(client: httpx.AsyncClient, sessions: Sessions) -> None:
    await ensure_dataset(sessions)
    created = (await client.post("/api/tunix/run", json={"dataset_key": DATASET_KEY})).json()
    run_id = created["run_id"]
    early = await client.post(f"/api/tunix/runs/{run_id}/retry")
    assert early.status_code == 409
    cancelled = await client.post(f"/api/tunix/runs/{run_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = await client.post(f"/api/tunix/runs/{run_id}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    retry = await client.post(f"/api/tunix/runs/{run_id}/retry")
    assert retry.status_code == 202
    new = retry.json()
    assert new["retry_of"] == run_id and new["status"] == "pending" and new["run_id"] != run_id
    assert "retry_of" not in new["request"]
    missing = await client.post(f"/api/tunix/runs/{uuid.uuid4()}/cancel")
    assert missing.status_code == 404
    malformed = await client.post("/api/tunix/runs/not-a-uuid/cancel")
    assert malformed.status_code == 422


async def test_cancel_finished_run_is_409(client: httpx.AsyncClient, sessions: Sessions) -> None:
    await ensure_dataset(sessions)
    run_id = uuid.UUID(
        (await client.post("/api/tunix/run", json={"dataset_key": DATASET_KEY})).json()["run_id"]
    )
    async with sessions() as session:
        await queue.claim_next_run(session, "w", 30)
        await queue.transition_run(session, run_id, "completed")
        await session.commit()
    response = await client.post(f"/api/tunix/runs/{run_id}/cancel")
    assert response.status_code == 409


async def test_metrics_count_lease_expiries_and_queue_depth(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await ensure_dataset(sessions)
    for _ in range(3):
        await client.post("/api/tunix/run", json={"dataset_key": DATASET_KEY})
    async with sessions() as session:
        claim = await queue.claim_next_run(session, "w-lost", 0.01)
        await session.commit()
    assert claim is not None
    await asyncio.sleep(0.05)
    async with sessions() as session:
        # The app's own reaper (every reaper_interval_s) may have taken it first: one of the
        # two reaps it, never both (the compare-and-set), and the run is pending again.
        assert len(await queue.reap_expired_leases(session)) <= 1
        await session.commit()
        assert (await queue.read_run(session, claim.run.id)).status == "pending"
    metrics = (await client.get("/metrics")).text
    assert "tunix_rt_lease_expiries_total 1.0" in metrics
    assert "tunix_rt_queue_depth 3.0" in metrics
    assert 'tunix_rt_runs{mode="async",status="pending"} 3.0' in metrics
    assert "tunix_rt_active_workers 0.0" in metrics
