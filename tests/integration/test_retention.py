"""Checkpoint retention through the worker, on both databases: a scripted child's checkpoint
and metric events are applied by a real worker, which keeps the best, the latest K and the
pinned steps and deletes the rest (rows, then directories); a stale attempt prunes nothing;
the checkpoints API lists and pins."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update

from tests.integration.worker_helpers import (
    Sessions,
    attempt_dir,
    enqueue,
    wait_for_status,
    wait_terminal,
)
from tunix_rt.db import models
from tunix_rt.runs import artifacts, queue
from tunix_rt.settings import Settings
from tunix_rt.worker.context import WorkerContext
from tunix_rt.worker.events import EventHandler
from tunix_rt.worker.loop import Worker

FIXTURE = str(Path(__file__).resolve().parents[1] / "fixtures" / "retention_child.py")
EM = "eval/exact_match"


def scripted(settings: Settings, sessions: Sessions, script: list[dict[str, Any]]) -> Worker:
    command = [sys.executable, FIXTURE, json.dumps(script)]
    return Worker(
        WorkerContext(
            settings=settings.model_copy(update={"worker_command": command}),
            sessions=sessions,
            hub=None,
        )
    )


async def checkpoint_rows(sessions: Sessions, run_id: uuid.UUID) -> dict[str, str]:
    async with sessions() as session:
        rows = await session.execute(
            select(models.RunArtifact.name, models.RunArtifact.relpath).where(
                models.RunArtifact.run_id == run_id,
                models.RunArtifact.name.startswith("checkpoints/"),
            )
        )
        return {name: relpath for name, relpath in rows}


async def add_pin(sessions: Sessions, run_id: uuid.UUID, step: int, reason: str) -> None:
    async with sessions() as session:
        session.add(models.CheckpointPin(run_id=run_id, step=step, reason=reason))
        await session.commit()


def on_disk(settings: Settings, run_id: uuid.UUID, fence: int = 1) -> set[int]:
    root = attempt_dir(settings, run_id, fence) / "checkpoints"
    return {int(p.name) for p in root.iterdir() if p.name.isdigit()} if root.is_dir() else set()


async def test_worker_keeps_best_latest_and_pinned_and_the_api_shows_them(
    settings: Settings, sessions: Sessions, client: httpx.AsyncClient
) -> None:
    script: list[dict[str, Any]] = [
        {"ckpt": 10},
        {"metric": 10, "values": {EM: 0.2, "loss": 3.0}},  # checkpoint first
        {"metric": 20, "values": {EM: 0.9, "loss": 2.0}},  # metric first
        {"ckpt": 20},
        {"wait_gone": "checkpoints/10"},  # pruned while the child still runs
        {"ckpt": 30},
        {"metric": 30, "values": {EM: 0.5}},
        {"ckpt": 40},
        {"metric": 40, "values": {EM: 0.1}},
        {"ckpt": 50},
    ]
    run_id = await enqueue(sessions, keep_checkpoints=1, eval_every_steps=10)
    await add_pin(sessions, run_id, 30, "user")
    worker = scripted(settings, sessions, script)
    worker.start()
    try:
        run = await wait_terminal(sessions, run_id)
    finally:
        await worker.stop(drain_timeout_s=0)
    assert run.status == "completed", run.error
    assert (attempt_dir(settings, run_id) / "done").is_file()  # it saw step 10 go
    assert (run.best_step, run.best_value) == (20, 0.9)
    assert (run.result or {})["pruned_steps"] == [10, 40]
    assert set(await checkpoint_rows(sessions, run_id)) == {
        "checkpoints/20",
        "checkpoints/30",
        "checkpoints/50",
    }
    assert on_disk(settings, run_id) == {20, 30, 50}
    trash = settings.artifacts / str(run_id) / ".trash"
    assert not trash.exists() or not any(trash.iterdir())

    base = f"/api/tunix/runs/{run_id}/checkpoints"
    listing = (await client.get(base)).json()
    assert (listing["best_metric"], listing["best_mode"]) == (EM, "max")
    assert (listing["best_step"], listing["best_value"], listing["keep_checkpoints"]) == (
        20,
        0.9,
        1,
    )
    assert listing["pruned_steps"] == [10, 40]
    rows = {c["step"]: c for c in listing["checkpoints"]}
    assert sorted(rows) == [20, 30, 50]
    assert [s for s, c in rows.items() if c["best"]] == [20]
    assert [s for s, c in rows.items() if c["latest"]] == [50]
    assert rows[30]["pinned_by"] == ["user"] and rows[20]["pinned_by"] == []
    assert (rows[20]["value"], rows[30]["value"], rows[50]["value"]) == (0.9, 0.5, None)

    # Pins: 409 for a pruned step, 404 for a step that never was, idempotent on repeat.
    gone = await client.post(f"{base}/40/pin")
    assert gone.status_code == 409 and "deleted by retention" in gone.json()["detail"]
    assert (await client.post(f"{base}/45/pin")).status_code == 404
    assert (
        await client.post(f"/api/tunix/runs/{uuid.uuid4()}/checkpoints/50/pin")
    ).status_code == 404
    assert (await client.get(f"/api/tunix/runs/{uuid.uuid4()}/checkpoints")).status_code == 404
    assert (await client.post(f"{base}/-1/pin")).status_code == 422
    assert (await client.post(f"{base}/99999999999/pin")).status_code == 422
    for _ in range(2):
        pinned = await client.post(f"{base}/50/pin")
        assert pinned.status_code == 200, pinned.text
        assert pinned.json()["pinned_by"] == ["user"] and pinned.json()["latest"]
    # Unpinning a finished run's step prunes it at once: no worker will come back to it.
    assert (await client.delete(f"{base}/30/pin")).status_code == 204
    assert (await client.delete(f"{base}/30/pin")).status_code == 404
    assert (await client.delete(f"{base}/20/pin")).status_code == 404  # never pinned
    after = (await client.get(base)).json()
    assert [c["step"] for c in after["checkpoints"]] == [20, 50]
    assert after["pruned_steps"] == [10, 30, 40]
    assert on_disk(settings, run_id) == {20, 50}
    assert (await client.post(f"{base}/30/pin")).status_code == 409


async def claim(sessions: Sessions, run_id: uuid.UUID) -> int:
    async with sessions() as session:
        claimed = await queue.claim_next_run(session, "test-worker", 60)
        await session.commit()
    assert claimed is not None and claimed.run.id == run_id
    return claimed.run.fence


async def feed(handler: EventHandler, *events: dict[str, Any]) -> None:
    for event in events:
        if event["event"] == "checkpoint":
            ckpt = handler.attempt_dir / event["path"]
            ckpt.mkdir(parents=True, exist_ok=True)
            (ckpt / "state.bin").write_bytes(b"x" * 32)
        await handler.handle_line(json.dumps(event).encode())


def ckpt(step: int) -> dict[str, Any]:
    return {"event": "checkpoint", "step": step, "path": f"checkpoints/{step}"}


def metric(step: int, value: float) -> dict[str, Any]:
    return {"event": "metric", "step": step, "values": {EM: value}}


async def test_a_stale_attempt_prunes_nothing_and_moves_no_best(
    settings: Settings, sessions: Sessions
) -> None:
    run_id = await enqueue(sessions, keep_checkpoints=1, eval_every_steps=10)
    fence = await claim(sessions, run_id)
    run_dir = settings.artifacts / str(run_id)
    stale = EventHandler(
        sessions, None, run_id, run_dir, fence=fence, attempt_rel=artifacts.attempt_dir_of(fence)
    )
    await feed(stale, ckpt(10), metric(10, 0.5), ckpt(20), metric(20, 0.1))
    assert set(await checkpoint_rows(sessions, run_id)) == {"checkpoints/10", "checkpoints/20"}
    # The run is handed to another attempt (what the reaper and a new claim do).
    async with sessions() as session:
        await session.execute(
            update(models.Run).where(models.Run.id == run_id).values(fence=fence + 1)
        )
        await session.commit()
    # Unfenced, these would make 30 the best and 40 the latest and prune 10 and 20.
    await feed(stale, metric(30, 0.9), ckpt(30), ckpt(40))
    assert stale.lease_lost
    assert set(await checkpoint_rows(sessions, run_id)) == {"checkpoints/10", "checkpoints/20"}
    assert on_disk(settings, run_id, fence) == {10, 20, 30, 40}
    async with sessions() as session:
        run = await queue.read_run(session, run_id)
    assert (run.best_step, run.best_value) == (10, 0.5)

    # The attempt that owns the run now prunes, and also deletes the stale attempt's copy of
    # the step it prunes (no row references it any more).
    owner = EventHandler(
        sessions,
        None,
        run_id,
        run_dir,
        fence=fence + 1,
        attempt_rel=artifacts.attempt_dir_of(fence + 1),
    )
    await feed(owner, metric(30, 0.9), ckpt(30))
    assert not owner.lease_lost
    async with sessions() as session:
        run = await queue.read_run(session, run_id)
    assert (run.best_step, run.best_value) == (30, 0.9)
    rows = await checkpoint_rows(sessions, run_id)
    assert rows == {"checkpoints/30": f"attempts/{fence + 1}/checkpoints/30"}
    assert on_disk(settings, run_id, fence + 1) == {30}
    # 10 and 20 (rows of the stale attempt's directory) are gone; its own unregistered 30 and
    # 40 are left alone (never a row: a stale process may still be writing there)...
    assert on_disk(settings, run_id, fence) == {30, 40}


async def test_a_pin_keeps_a_step_a_running_worker_would_prune(
    settings: Settings, sessions: Sessions, client: httpx.AsyncClient
) -> None:
    run_id = await enqueue(sessions, keep_checkpoints=1)
    fence = await claim(sessions, run_id)
    run_dir = settings.artifacts / str(run_id)
    handler = EventHandler(
        sessions, None, run_id, run_dir, fence=fence, attempt_rel=artifacts.attempt_dir_of(fence)
    )
    await feed(handler, ckpt(5))
    base = f"/api/tunix/runs/{run_id}/checkpoints"
    assert (await client.post(f"{base}/5/pin")).status_code == 200
    await feed(handler, ckpt(10), ckpt(15))
    assert on_disk(settings, run_id, fence) == {5, 15}
    listing = (await client.get(base)).json()
    assert listing["best_metric"] is None and listing["best_step"] is None
    assert [(c["step"], c["pinned_by"]) for c in listing["checkpoints"]] == [
        (5, ["user"]),
        (15, []),
    ]
    # Unpinning while the run is active leaves the pruning to its worker.
    assert (await client.delete(f"{base}/5/pin")).status_code == 204
    assert on_disk(settings, run_id, fence) == {5, 15}
    await feed(handler, ckpt(20))
    assert on_disk(settings, run_id, fence) == {20}
    await wait_for_status(sessions, run_id, {"running"})
