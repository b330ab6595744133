"""An in-process worker running fixture children: outcomes, events, cancel, timeout, drain."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select

from tests.integration.worker_helpers import (
    Sessions,
    attempt_dir,
    enqueue,
    wait_for_file,
    wait_for_status,
    wait_pid_gone,
    wait_terminal,
    worker_context,
)
from tunix_rt.db import models
from tunix_rt.runs import queue
from tunix_rt.runs.schema import RunRequest
from tunix_rt.settings import Settings
from tunix_rt.worker.loop import Worker


@asynccontextmanager
async def running_worker(
    settings: Settings, sessions: Sessions, mode: str, *args: str, **overrides: object
) -> AsyncIterator[Worker]:
    ctx = worker_context(settings.model_copy(update=overrides), sessions, mode, *args)
    worker = Worker(ctx)
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop(drain_timeout_s=0)


async def cancel(sessions: Sessions, run_id: uuid.UUID) -> str:
    async with sessions() as session:
        run, _ = await queue.request_cancel(session, run_id)
        await session.commit()
        return run.status


async def log_seqs(sessions: Sessions, run_id: uuid.UUID) -> list[tuple[int, str, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(models.RunLogChunk.seq, models.RunLogChunk.stream, models.RunLogChunk.text)
            .where(models.RunLogChunk.run_id == run_id)
            .order_by(models.RunLogChunk.seq)
        )
        return [(s, st, t) for s, st, t in rows.all()]


async def test_successful_run_records_events_logs_and_artifacts(
    settings: Settings, sessions: Sessions
) -> None:
    run_id = await enqueue(sessions)
    async with running_worker(settings, sessions, "ok"):
        run = await wait_terminal(sessions, run_id)
    assert run.status == "completed" and run.exit_code == 0 and run.attempt == 1
    assert run.last_step == 3 and (run.result or {}).get("max_steps") == 3
    assert run.eval == {"exact_match": 0.5, "format_ok": 0.5, "n": 2}
    assert "hello from stdout" in run.stdout_tail and "warming up" in run.stderr_tail
    lines = await log_seqs(sessions, run_id)
    assert [s for s, _, _ in lines] == list(range(1, len(lines) + 1))
    assert ("stderr", "warming up") in [(st, t) for _, st, t in lines]
    assert run.log_lines == len(lines) == 3
    async with sessions() as session:
        metrics = (
            await session.execute(
                select(models.RunMetric.step, models.RunMetric.value)
                .where(models.RunMetric.run_id == run_id, models.RunMetric.name == "loss")
                .order_by(models.RunMetric.step)
            )
        ).all()
        arts = {
            a.name: a
            for a in (
                await session.scalars(
                    select(models.RunArtifact).where(models.RunArtifact.run_id == run_id)
                )
            ).all()
        }
        traces = (
            await session.scalars(
                select(models.Trace).where(models.Trace.source == f"run:{run_id}")
            )
        ).all()
    assert [(s, round(v, 3)) for s, v in metrics] == [(1, 1.0), (2, 0.5), (3, 0.333)]
    assert {"spec.json", "eval.json", "logs/output.log", "checkpoints/3"} <= set(arts)
    ckpt = arts["checkpoints/3"]
    assert ckpt.kind == "directory" and ckpt.size_bytes == 100 and ckpt.manifest
    assert all(not a.relpath.startswith("/") for a in arts.values())
    assert len(traces) == 2
    by_prompt = {t.prompt: t for t in traces}
    assert [s["content"] for s in by_prompt["2+2?"].steps] == ["add two and two", "get four"]
    assert by_prompt["3+3?"].final_answer == "(no answer)"
    assert by_prompt["3+3?"].meta["expected_answer"] == "6"
    assert {a.relpath for a in arts.values()} == {f"attempts/1/{name}" for name in arts}
    run_dir = attempt_dir(settings, run_id)
    assert (run_dir / "data" / "train.jsonl").exists()
    assert "hello from stdout" in (run_dir / "logs" / "output.log").read_text()


async def test_failing_child_fails_with_message_and_stderr(
    settings: Settings, sessions: Sessions
) -> None:
    run_id = await enqueue(sessions)
    async with running_worker(settings, sessions, "fail"):
        run = await wait_terminal(sessions, run_id)
    assert run.status == "failed" and run.exit_code == 2
    assert run.error is not None
    assert "dataset is empty" in run.error and "Traceback: something broke" in run.error


async def test_cancel_running_run_kills_process_group(
    settings: Settings, sessions: Sessions
) -> None:
    run_id = await enqueue(sessions)
    run_dir = attempt_dir(settings, run_id)
    async with running_worker(settings, sessions, "grandchild"):
        grand = int(await wait_for_file(run_dir / "grandchild.pid"))
        child = int(await wait_for_file(run_dir / "child.pid"))
        assert await cancel(sessions, run_id) == "cancel_requested"
        run = await wait_terminal(sessions, run_id)
    assert run.status == "cancelled"
    assert await wait_pid_gone(child) and await wait_pid_gone(grand)
    async with sessions() as session:
        history = [
            e.to_status
            for e in (
                await session.scalars(
                    select(models.RunEvent)
                    .where(models.RunEvent.run_id == run_id)
                    .order_by(models.RunEvent.id)
                )
            ).all()
        ]
    assert history == ["pending", "running", "cancel_requested", "cancelled"]


async def test_child_ignoring_sigterm_is_killed_after_grace(
    settings: Settings, sessions: Sessions
) -> None:
    run_id = await enqueue(sessions)
    run_dir = attempt_dir(settings, run_id)
    async with running_worker(settings, sessions, "stubborn", cancel_grace_s=1.0):
        child = int(await wait_for_file(run_dir / "child.pid"))
        await wait_for_status(sessions, run_id, {"running"})
        loop = asyncio.get_running_loop()
        asked = loop.time()
        await cancel(sessions, run_id)
        run = await wait_terminal(sessions, run_id)
        took = loop.time() - asked
    assert run.status == "cancelled" and run.exit_code == -9
    assert 1.0 <= took < 6.0
    assert await wait_pid_gone(child)


async def test_cancel_pending_run_never_starts(settings: Settings, sessions: Sessions) -> None:
    run_id = await enqueue(sessions)
    assert await cancel(sessions, run_id) == "cancelled"
    async with running_worker(settings, sessions, "ok"):
        await asyncio.sleep(0.5)
    async with sessions() as session:
        run = await queue.read_run(session, run_id)
    assert run.status == "cancelled" and run.attempt == 0 and run.started_at is None


async def test_timeout_stops_child(settings: Settings, sessions: Sessions) -> None:
    run_id = await enqueue(sessions, timeout_s=1)
    run_dir = attempt_dir(settings, run_id)
    async with running_worker(settings, sessions, "sleep", "60", cancel_grace_s=1.0):
        child = int(await wait_for_file(run_dir / "child.pid"))
        run = await wait_terminal(sessions, run_id, timeout_s=15)
    assert run.status == "timeout" and run.error and "timed out" in run.error
    assert await wait_pid_gone(child)


async def test_drain_hands_run_back_without_counting_attempt(
    settings: Settings, sessions: Sessions
) -> None:
    run_id = await enqueue(sessions)
    run_dir = attempt_dir(settings, run_id)
    quick = settings.model_copy(update={"cancel_grace_s": 1.0})
    ctx = worker_context(quick, sessions, "sleep", "60")
    worker = Worker(ctx)
    worker.start()
    child = int(await wait_for_file(run_dir / "child.pid"))
    await worker.stop(drain_timeout_s=0.3)
    async with sessions() as session:
        run = await queue.read_run(session, run_id)
    assert run.status == "pending" and run.attempt == 0 and run.worker_id is None
    assert await wait_pid_gone(child)
    # The next worker takes it and the log numbering continues after the first attempt.
    async with running_worker(settings, sessions, "ok"):
        run = await wait_terminal(sessions, run_id)
    assert run.status == "completed" and run.attempt == 1
    seqs = [s for s, _, _ in await log_seqs(sessions, run_id)]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == 4


async def test_drain_lets_short_run_finish(settings: Settings, sessions: Sessions) -> None:
    run_id = await enqueue(sessions)
    run_dir = attempt_dir(settings, run_id)
    ctx = worker_context(settings, sessions, "sleep", "1")
    worker = Worker(ctx)
    worker.start()
    await wait_for_file(run_dir / "child.pid")
    await worker.stop(drain_timeout_s=10)
    async with sessions() as session:
        run = await queue.read_run(session, run_id)
    assert run.status == "completed"


async def test_flood_of_lines_keeps_capped_tail_gap_free(
    settings: Settings, sessions: Sessions
) -> None:
    total = 200_000
    run_id = await enqueue(sessions)
    cap = 1_000_000
    async with running_worker(
        settings, sessions, "flood", str(total), log_db_cap_bytes=cap, log_flush_lines=5000
    ):
        run = await wait_terminal(sessions, run_id, timeout_s=120)
    assert run.status == "completed"
    log_file = attempt_dir(settings, run_id) / "logs" / "output.log"
    file_lines = log_file.read_text().splitlines()
    assert len(file_lines) == total
    assert file_lines[0].startswith("00000000 ") and file_lines[-1].startswith(f"{total - 1:08d} ")
    rows = await log_seqs(sessions, run_id)
    seqs = [s for s, _, _ in rows]
    assert seqs == list(range(seqs[0], total + 1))  # contiguous, ending at the last line
    assert sum(len(t) + 1 for _, _, t in rows) <= cap
    assert len(rows) >= cap // 100 - 100  # the cap is used, not wasted
    assert [int(t.split()[0]) + 1 for _, _, t in rows] == seqs  # in order, right text
    assert run.log_lines == total and run.log_dropped_lines == total - len(rows)


async def test_retry_links_old_checkpoints(settings: Settings, sessions: Sessions) -> None:
    old_id = await enqueue(sessions)
    async with running_worker(settings, sessions, "ok"):
        await wait_terminal(sessions, old_id)
    async with sessions() as session:
        old = await queue.read_run(session, old_id)
        twin, _ = await queue.enqueue_run(
            session,
            RunRequest.model_validate(old.request),
            default_timeout_s=60,
            default_max_attempts=1,
            retry_of=old_id,
        )
        await session.commit()
    async with running_worker(settings, sessions, "sleep", "0"):
        run = await wait_terminal(sessions, twin.id)
    assert run.status == "completed"
    new_dir = attempt_dir(settings, twin.id)
    old_dir = attempt_dir(settings, old_id)
    linked = new_dir / "checkpoints" / "3" / "weights.bin"
    assert linked.exists()
    assert linked.stat().st_ino == (old_dir / "checkpoints" / "3" / "weights.bin").stat().st_ino
