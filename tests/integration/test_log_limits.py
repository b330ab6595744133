"""Logs under a full disk and hostile line lengths (both databases).

A full artifact volume fails the run at once with `artifact_store_error: No space left on
device`, keeps what was captured, and spends no retry. The file copy of a run's log is
capped like the database copy, and a long line is cut at 16 KiB however it arrives.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests import run_rows
from tests.conftest import IN_CI
from tests.integration.worker_helpers import (
    Sessions,
    attempt_dir,
    enqueue,
    wait_terminal,
    worker_context,
)
from tunix_rt.db import models
from tunix_rt.runs.logs import MAX_LINE_BYTES, LogWriter
from tunix_rt.settings import Settings
from tunix_rt.worker.loop import Worker

SMALL_VOLUME = "1m"


@pytest.fixture
def full_volume(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs: the disk that fills up (mounting needs root, as CI has)."""
    mount = tmp_path / "volume"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SMALL_VOLUME}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        message = f"cannot mount a tmpfs for the full-disk test: {done.stderr.strip()}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def stored_lines(sessions: Sessions, run_id: uuid.UUID) -> list[tuple[int, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(models.RunLogChunk.seq, models.RunLogChunk.text)
            .where(models.RunLogChunk.run_id == run_id)
            .order_by(models.RunLogChunk.seq)
        )
        return [(int(seq), str(text)) for seq, text in rows.all()]


async def test_full_disk_fails_run_with_reason_keeps_logs_and_spends_no_retry(
    settings: Settings, sessions: Sessions, full_volume: Path
) -> None:
    on_small_disk = settings.model_copy(update={"artifact_root": full_volume})
    run_id = await enqueue(sessions, max_attempts=3)
    worker = Worker(worker_context(on_small_disk, sessions, "flood", "30000"))
    worker.start()
    try:
        run = await wait_terminal(sessions, run_id, timeout_s=60)
    finally:
        await worker.stop(drain_timeout_s=0)
    assert run.status == "failed" and run.attempt == 1
    assert run.error is not None
    assert run.error.startswith("artifact_store_error: No space left on device"), run.error
    async with sessions() as session:
        events = (
            await session.scalars(
                select(models.RunEvent.to_status)
                .where(models.RunEvent.run_id == run_id)
                .order_by(models.RunEvent.id)
            )
        ).all()
    assert list(events) == ["pending", "running", "failed"]  # no retry burnt on a full disk
    lines = await stored_lines(sessions, run_id)
    assert lines and [seq for seq, _ in lines] == list(range(1, len(lines) + 1))
    assert run.log_lines == len(lines)
    # What the child managed to write is kept: the raw stream was not deleted.
    raw = attempt_dir(on_small_disk, run_id) / "logs" / "stdout.log"
    assert raw.is_file() and raw.stat().st_size > 0


def make_writer(sessions: Sessions, run_id: uuid.UUID, path: Path, **options: int) -> LogWriter:
    return LogWriter(
        sessions,
        None,
        run_id,
        path,
        cap_bytes=64 * 1024 * 1024,
        flush_lines=100,
        flush_ms=20,
        tail_lines=5,
        **options,  # type: ignore[arg-type]
    )


async def test_whole_long_line_is_cut_like_a_streamed_one(
    settings: Settings, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="running")
    writer = make_writer(sessions, run_id, settings.artifacts / str(run_id) / "out.log")
    await writer.open()
    writer.feed("stdout", b"a" * 1_000_000 + b"\nshort\n")
    assert await writer.close()
    lines = await stored_lines(sessions, run_id)
    assert max(len(text) for _, text in lines) == MAX_LINE_BYTES
    assert "".join(text for _, text in lines[:-1]) == "a" * 1_000_000
    assert lines[-1][1] == "short"


async def test_log_file_is_capped_and_says_so(settings: Settings, sessions: Sessions) -> None:
    run_id = await run_rows.insert_run(sessions, status="running")
    path = settings.artifacts / str(run_id) / "out.log"
    writer = make_writer(sessions, run_id, path, file_cap_bytes=10_000)
    await writer.open()
    for i in range(1000):
        writer.feed("stdout", f"{i:05d} {'x' * 93}\n".encode())
    assert await writer.close()
    text = path.read_text()
    assert len(text.encode()) < 10_000 + 300
    assert "log file cap of 10000 bytes reached" in text.splitlines()[-1]
    assert len(await stored_lines(sessions, run_id)) == 1000  # the database copy is whole
