"""The queue's SQL on both databases: enqueue, claim, compare-and-set, reaper, cancel, delete."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.db.types import utcnow
from tunix_rt.runs import queue, states
from tunix_rt.runs.schema import RunOut, RunRequest

Sessions = async_sessionmaker[AsyncSession]


async def enqueue(sessions: Sessions, **fields: object) -> uuid.UUID:
    request = RunRequest.model_validate({"dataset_key": "ds-v1", **fields})
    async with sessions() as session:
        run, _ = await queue.enqueue_run(
            session, request, default_timeout_s=60, default_max_attempts=2
        )
        await session.commit()
        return run.id


async def claim(sessions: Sessions, worker: str = "w1", lease_s: float = 30) -> models.Run | None:
    async with sessions() as session:
        got = await queue.claim_next_run(session, worker, lease_s)
        await session.commit()
        return got.run if got else None


async def events_of(sessions: Sessions, run_id: uuid.UUID) -> list[tuple[str | None, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(models.RunEvent.from_status, models.RunEvent.to_status)
            .where(models.RunEvent.run_id == run_id)
            .order_by(models.RunEvent.id)
        )
        return [(a, b) for a, b in rows.all()]


async def test_claim_takes_highest_priority_then_oldest(sessions: Sessions) -> None:
    low = await enqueue(sessions, priority=-5)
    first = await enqueue(sessions)
    second = await enqueue(sessions)
    urgent = await enqueue(sessions, priority=10)
    order = [(await claim(sessions)) for _ in range(4)]
    assert [r.id for r in order if r] == [urgent, first, second, low]
    assert await claim(sessions) is None
    run = order[0]
    assert run is not None and run.status == "running" and run.attempt == 1
    assert run.worker_id == "w1" and run.lease_expires_at is not None
    assert await events_of(sessions, urgent) == [(None, "pending"), ("pending", "running")]


async def test_concurrent_claims_never_double_claim(sessions: Sessions) -> None:
    ids = {await enqueue(sessions) for _ in range(30)}

    async def drain(worker: str) -> list[uuid.UUID]:
        got = []
        while (run := await claim(sessions, worker)) is not None:
            got.append(run.id)
        return got

    results = await asyncio.gather(*(drain(f"w{i}") for i in range(4)))
    claimed = [rid for part in results for rid in part]
    assert sorted(claimed) == sorted(ids)


async def test_transition_is_compare_and_set(sessions: Sessions) -> None:
    run_id = await enqueue(sessions)
    await claim(sessions)
    async with sessions() as session:
        run, notice = await queue.transition_run(
            session, run_id, "completed", reason="exit 0", exit_code=0
        )
        await session.commit()
    assert run.status == "completed" and run.finished_at is not None and run.exit_code == 0
    assert notice.kind == "status" and notice.run_id == str(run_id)
    async with sessions() as session:
        with pytest.raises(errors.InvalidTransition):
            await queue.transition_run(session, run_id, "failed")
        with pytest.raises(errors.InvalidTransition):
            await queue.transition_run(session, run_id, "running")


async def test_cancel_vs_finish_race_has_one_winner(sessions: Sessions) -> None:
    """The cancel and the worker's completion race; exactly one lands, the log stays coherent."""
    for _ in range(5):
        run_id = await enqueue(sessions)
        run = await claim(sessions)
        assert run is not None

        async def cancel(run_id: uuid.UUID = run_id) -> str:
            async with sessions() as session:
                got, _ = await queue.request_cancel(session, run_id)
                await session.commit()
                return got.status

        async def finish(run_id: uuid.UUID = run_id) -> str:
            async with sessions() as session:
                try:
                    got, _ = await queue.transition_run(
                        session, run_id, "completed", from_=states.ACTIVE, attempt=1
                    )
                except errors.Conflict:
                    return "refused"
                await session.commit()
                return got.status

        outcomes = await asyncio.gather(cancel(), finish(), return_exceptions=True)
        async with sessions() as session:
            final = await queue.read_run(session, run_id)
        # Completion may win before or after cancel_requested; never a cancelled+completed mix.
        assert final.status in {"completed", "cancel_requested"}
        history = [to for _, to in await events_of(sessions, run_id)]
        assert history[:2] == ["pending", "running"]
        assert history.count("completed") == (1 if final.status == "completed" else 0)
        assert all(
            not isinstance(o, BaseException) or isinstance(o, errors.Conflict) for o in outcomes
        )


async def test_stale_attempt_cannot_finish_reclaimed_run(sessions: Sessions) -> None:
    run_id = await enqueue(sessions)
    await claim(sessions, "w1", lease_s=0.01)
    await asyncio.sleep(0.05)
    async with sessions() as session:
        reaped = await queue.reap_expired_leases(session)
        await session.commit()
    assert [r.status for r, _ in reaped] == ["pending"]
    again = await claim(sessions, "w2")
    assert again is not None and again.attempt == 2
    async with sessions() as session:
        with pytest.raises(errors.InvalidTransition):
            await queue.transition_run(session, run_id, "completed", attempt=1)
        assert await queue.heartbeat_run(session, run_id, "w1", 1, 30) is None
        assert await queue.heartbeat_run(session, run_id, "w2", 2, 30) == "running"


async def test_reaper_fails_run_without_attempts_left(sessions: Sessions) -> None:
    run_id = await enqueue(sessions, max_attempts=1)
    await claim(sessions, lease_s=0.01)
    await asyncio.sleep(0.05)
    async with sessions() as session:
        reaped = await queue.reap_expired_leases(session)
        await session.commit()
    assert len(reaped) == 1
    run = reaped[0][0]
    assert run.status == "failed" and run.error and "worker_lost" in run.error
    assert (await events_of(sessions, run_id))[-1] == ("running", "failed")


async def test_reaper_leaves_live_lease_alone(sessions: Sessions) -> None:
    await enqueue(sessions)
    await claim(sessions, lease_s=60)
    async with sessions() as session:
        assert await queue.reap_expired_leases(session) == []
        future = utcnow() + timedelta(seconds=120)
        assert len(await queue.reap_expired_leases(session, now=future)) == 1


async def test_cancel_pending_and_running(sessions: Sessions) -> None:
    pending = await enqueue(sessions, priority=-1)
    running = await enqueue(sessions, priority=1)
    await claim(sessions)
    async with sessions() as session:
        run, _ = await queue.request_cancel(session, pending)
        assert run.status == "cancelled"
        run, _ = await queue.request_cancel(session, running)
        assert run.status == "cancel_requested"
        run, notice = await queue.request_cancel(session, running)
        assert run.status == "cancel_requested" and notice is None
        await session.commit()
    async with sessions() as session:
        await queue.transition_run(session, running, "cancelled", reason="child stopped")
        await session.commit()
        run, _ = await queue.request_cancel(session, running)
        assert run.status == "cancelled"
    async with sessions() as session:
        done = await enqueue(sessions)
        await claim(sessions)
        await queue.transition_run(session, done, "completed")
        with pytest.raises(errors.Conflict):
            await queue.request_cancel(session, done)


async def test_delete_only_terminal_runs(sessions: Sessions) -> None:
    run_id = await enqueue(sessions)
    async with sessions() as session:
        with pytest.raises(errors.Conflict):
            await queue.delete_run(session, run_id)
        await queue.request_cancel(session, run_id)
        await queue.delete_run(session, run_id)
        await session.commit()
    async with sessions() as session:
        with pytest.raises(errors.NotFound):
            await queue.read_run(session, run_id)
        assert await events_of(sessions, run_id) == []


async def test_run_out_shapes(sessions: Sessions) -> None:
    run_id = await enqueue(sessions, max_steps=7)
    async with sessions() as session:
        run = await queue.read_run(session, run_id)
    out = RunOut.from_model(run).model_dump()
    assert out["max_steps"] == 7 and out["request"]["max_steps"] == 7
    assert out["status"] == "pending" and out["retry_of"] is None and out["eval"] is None
