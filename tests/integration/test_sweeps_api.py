"""Sweep API input checks and the controller's steps, in process (both databases): bad
specs are 4xx with a clear message; the controller asks at most max_parallel trials, never
twice the same number, and a sweep's state survives being rebuilt by a fresh controller."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.worker_helpers import DATASET_KEY, ensure_dataset
from tests.run_rows import add_artifact, insert_run
from tests.sse_client import iter_events, live_server
from tunix_rt.db import models
from tunix_rt.runs import queue
from tunix_rt.settings import Settings
from tunix_rt.sweeps import controller, store
from tunix_rt.sweeps.schema import SweepRequest

Sessions = async_sessionmaker[AsyncSession]


def spec(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dataset_key": DATASET_KEY,
        "base": {"max_steps": 8, "eval_every_steps": 2},
        "space": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
        "n_trials": 4,
        "max_parallel": 2,
        "seed": 5,
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"space": {"dataset_key": {"type": "categorical", "choices": ["x"]}}}, "cannot search"),
        ({"space": {"learning_rate": {"type": "float", "low": 1e-3}}}, "needs low and high"),
        ({"space": {"learning_rate": {"type": "float", "low": 0, "high": 1, "log": True}}}, "> 0"),
        ({"space": {"learning_rate": {"type": "float", "low": 0.1, "high": 2}}}, "less than or"),
        ({"space": {"batch_size": {"type": "int", "low": 1.5, "high": 4}}}, "integer low"),
        ({"space": {"batch_size": {"type": "categorical"}}}, "needs choices"),
        ({"space": {"batch_size": {"type": "categorical", "choices": [8, 8]}}}, "not repeat"),
        ({"sampler": "grid"}, "grid search needs discrete values"),
        ({"pruner": "median", "base": {"max_steps": 8}}, "needs base.eval_every_steps"),
        ({"base": {"name": "x"}}, "must not set name"),
        ({"base": {"num_epochs": 2, "max_steps": 4}}, "max_steps or num_epochs"),
        ({"n_trials": 0}, "greater than or equal to 1"),
        ({"space": {}}, "at least 1"),
    ],
)
async def test_bad_sweep_specs_are_422_with_a_message(
    client: httpx.AsyncClient, overrides: dict[str, Any], words: str
) -> None:
    response = await client.post("/api/sweeps", json=spec(**overrides))
    assert response.status_code == 422, response.text
    assert words in response.text


async def test_unknown_dataset_and_sweep_are_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/sweeps", json=spec(dataset_key="nope-v1"))
    assert response.status_code == 404 and "nope-v1" in response.text
    missing = uuid.uuid4()
    for method, path in [
        ("GET", f"/api/sweeps/{missing}"),
        ("POST", f"/api/sweeps/{missing}/cancel"),
        ("GET", f"/api/sweeps/{missing}/importance"),
        ("POST", f"/api/sweeps/{missing}/pin-best"),
        ("GET", f"/api/sweeps/{missing}/events"),
    ]:
        assert (await client.request(method, path)).status_code == 404, path


async def test_grid_caps_n_trials_and_new_sweep_reads_back(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await ensure_dataset(sessions)
    body = spec(
        sampler="grid",
        n_trials=50,
        space={
            "batch_size": {"type": "categorical", "choices": [4, 8]},
            "max_steps": {"type": "int", "low": 2, "high": 6, "step": 2},
        },
    )
    created = await client.post("/api/sweeps", json=body)
    assert created.status_code == 202, created.text
    sweep_id = created.json()["sweep_id"]
    sweep = (await client.get(f"/api/sweeps/{sweep_id}")).json()
    assert sweep["n_trials"] == 6  # 2 x 3 grid points
    assert sweep["seed"] == 5 and sweep["status"] == "running"
    importance = (await client.get(f"/api/sweeps/{sweep_id}/importance")).json()
    assert importance["available"] is False and "at least 2 completed" in importance["message"]
    pin = await client.post(f"/api/sweeps/{sweep_id}/pin-best")
    assert pin.status_code == 409 and "no completed trial" in pin.text
    listed = (await client.get("/api/sweeps")).json()["sweeps"]
    assert [s["sweep_id"] for s in listed] == [sweep_id]
    assert (await client.post(f"/api/sweeps/{sweep_id}/cancel")).json()["status"] == "cancelled"
    # Repeating the cancel is harmless.
    assert (await client.post(f"/api/sweeps/{sweep_id}/cancel")).status_code == 200


async def test_controller_asks_up_to_max_parallel_and_grid_covers_every_point(
    sessions: Sessions, settings: Settings
) -> None:
    await ensure_dataset(sessions)
    request = SweepRequest.model_validate(
        spec(
            sampler="grid",
            n_trials=4,
            space={"learning_rate": {"type": "categorical", "choices": [1e-3, 2e-3, 3e-3, 4e-3]}},
        )
    )
    async with sessions() as session:
        sweep = await store.create_sweep(session, request)
        await session.commit()
    # Two controllers step the same sweep: the sweep lock makes them take turns.
    for _ in range(3):
        for _ in range(2):
            async with sessions() as session:
                await controller.advance_sweep(session, sweep.id, settings)
                await session.commit()
    async with sessions() as session:
        runs = list(
            await session.scalars(select(models.Run).where(models.Run.sweep_id == sweep.id))
        )
        assert sorted(r.trial_number or 0 for r in runs) == [0, 1]  # max_parallel
        for run in runs:  # the trial runs end: the next two are asked
            await queue.transition_run(session, run.id, "cancelled", from_=["pending"])
        await session.commit()
    for _ in range(2):
        async with sessions() as session:
            await controller.advance_sweep(session, sweep.id, settings)
            await session.commit()
    async with sessions() as session:
        sweep_row = await store.read_sweep(session, sweep.id)
        trials = await store.load_trials(session, sweep_row)
        assert [t.record.number for t in trials] == [0, 1, 2, 3]
        lrs = sorted(t.run.request["learning_rate"] for t in trials)
        assert lrs == [1e-3, 2e-3, 3e-3, 4e-3]  # the grid: every point once
        assert [t.record.state for t in trials[:2]] == ["cancelled", "cancelled"]
        assert all(t.run.name and t.run.name.endswith(f"#{t.record.number}") for t in trials)
        for t in trials[2:]:
            await queue.transition_run(session, t.run.id, "cancelled", from_=["pending"])
        await session.commit()
    async with sessions() as session:
        await controller.advance_sweep(session, sweep.id, settings)
        await session.commit()
    async with sessions() as session:
        assert (await store.read_sweep(session, sweep.id)).status == "completed"


async def test_a_deleted_trial_run_never_gives_its_number_again(
    sessions: Sessions, settings: Settings
) -> None:
    await ensure_dataset(sessions)
    request = SweepRequest.model_validate(spec(n_trials=3, max_parallel=1, sampler="random"))
    async with sessions() as session:
        sweep = await store.create_sweep(session, request)
        await session.commit()

    async def step() -> list[models.Run]:
        async with sessions() as session:
            await controller.advance_sweep(session, sweep.id, settings)
            await session.commit()
        async with sessions() as session:
            query = select(models.Run).where(models.Run.sweep_id == sweep.id)
            return list(await session.scalars(query.order_by(models.Run.trial_number)))

    [first] = await step()
    async with sessions() as session:
        await queue.transition_run(session, first.id, "cancelled", from_=["pending"])
        await queue.delete_run(session, first.id)
        await session.commit()
    [second] = await step()
    assert second.trial_number == 1  # not 0 again (the unique index would refuse it)
    async with sessions() as session:
        await queue.transition_run(session, second.id, "cancelled", from_=["pending"])
        await session.commit()
    runs = await step()
    assert [r.trial_number for r in runs] == [1, 2]  # 3 asked in all, one deleted


async def test_progress_stream_follows_the_sweep_to_its_end(
    settings: Settings, sessions: Sessions
) -> None:
    await ensure_dataset(sessions)
    async with live_server(settings) as base, httpx.AsyncClient(timeout=30) as http:
        created = await http.post(f"{base}/api/sweeps", json=spec())
        assert created.status_code == 202, created.text
        sweep_id = created.json()["sweep_id"]
        events = []

        async def cancel_when_asked() -> None:
            # The server's controller asks the first two trials (no worker runs them).
            for _ in range(200):
                sweep = (await http.get(f"{base}/api/sweeps/{sweep_id}")).json()
                if len(sweep["trials"]) == 2:
                    break
                await asyncio.sleep(0.05)
            await http.post(f"{base}/api/sweeps/{sweep_id}/cancel")

        canceller = asyncio.create_task(cancel_when_asked())
        async for event in iter_events(http, f"{base}/api/sweeps/{sweep_id}/events"):
            events.append(event)
        await canceller
    assert events[0].event == "sweep" and events[0].data["sweep_id"] == sweep_id
    assert events[-1].event == "end" and events[-1].data == {"status": "cancelled"}
    last = [e for e in events if e.event == "sweep"][-1].data
    assert last["status"] == "cancelled"
    assert [t["run_status"] for t in last["trials"]] == ["cancelled", "cancelled"]


async def test_a_base_init_from_is_resolved_once_and_pinned_for_every_trial(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    await ensure_dataset(sessions)
    source = await insert_run(sessions, status="completed", dataset_key=DATASET_KEY)
    for step in (2, 4):
        await add_artifact(sessions, source, f"checkpoints/{step}", kind="checkpoint")
    base = {"max_steps": 8, "algorithm": "grpo", "init_from": {"run_id": str(source)}}
    missing = await client.post(
        "/api/sweeps",
        json=spec(base={**base, "init_from": {"run_id": str(uuid.uuid4())}}),
    )
    assert missing.status_code == 404 and "init_from" in missing.text
    created = await client.post("/api/sweeps", json=spec(base=base, n_trials=2))
    assert created.status_code == 202, created.text
    sweep_id = uuid.UUID(created.json()["sweep_id"])
    # A later checkpoint of the source does not change where the trials start.
    await add_artifact(sessions, source, "checkpoints/6", kind="checkpoint")
    async with sessions() as session:
        await controller.advance_sweep(session, sweep_id, settings)
        await session.commit()
    async with sessions() as session:
        runs = list(
            await session.scalars(select(models.Run).where(models.Run.sweep_id == sweep_id))
        )
        assert len(runs) == 2
        assert {r.request["init_from"]["checkpoint"] for r in runs} == {4}
        assert {r.model_id for r in runs} == {"tiny"}
        pins = set(
            await session.scalars(
                select(models.CheckpointPin.reason).where(
                    models.CheckpointPin.run_id == source, models.CheckpointPin.step == 4
                )
            )
        )
        assert pins == {f"init:{r.id}" for r in runs}
