"""The live log stream over a real uvicorn server, parsed by a real SSE client."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import run_rows
from tests.sse_client import (
    Event,
    iter_events,
    live_server,
    log_texts,
    read_until_end,
    read_with_reconnects,
)
from tunix_rt.runs.logs import LogWriter
from tunix_rt.settings import Settings

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with live_server(settings) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(30)) as c:
        yield c


def logs_url(base: str, run_id: uuid.UUID) -> str:
    return f"{base}/api/tunix/runs/{run_id}/logs"


async def test_finished_run_replays_everything_and_ends(
    base_url: str, http: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="running")
    await run_rows.add_lines(sessions, run_id, [f"line {i}" for i in range(1, 51)])
    await run_rows.add_lines(sessions, run_id, ["oops"], stream="stderr")
    await run_rows.add_metrics(sessions, run_id, 1, {"loss": 2.0, "perplexity": 7.4})
    await run_rows.add_metrics(sessions, run_id, 2, {"loss": 1.5, "perplexity": 4.5})
    await run_rows.set_status(sessions, run_id, "completed", reason="exit 0")

    events = await read_until_end(http, logs_url(base_url, run_id))
    assert events[-1] == Event("end", {"status": "completed"}, None)
    logs = [e for e in events if e.event == "log"]
    assert [e.data["seq"] for e in logs] == list(range(1, 52))
    assert [e.id for e in logs] == [str(i) for i in range(1, 52)]
    assert logs[-1].data == {"seq": 51, "stream": "stderr", "text": "oops"}
    statuses = [e.data["status"] for e in events if e.event == "status"]
    assert statuses == ["pending", "running", "completed"]
    metrics = [e.data for e in events if e.event == "metric"]
    assert metrics == [
        {"step": 1, "values": {"loss": 2.0, "perplexity": 7.4}},
        {"step": 2, "values": {"loss": 1.5, "perplexity": 4.5}},
    ]


async def test_resume_with_since_seq_or_last_event_id(
    base_url: str, http: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed")
    await run_rows.add_lines(sessions, run_id, [f"l{i}" for i in range(1, 41)])
    url = logs_url(base_url, run_id)
    by_query = await read_until_end(http, url, params={"since_seq": 25})
    assert log_texts(by_query) == [f"l{i}" for i in range(26, 41)]
    by_header = await read_until_end(http, url, headers={"Last-Event-ID": "30"})
    assert log_texts(by_header) == [f"l{i}" for i in range(31, 41)]
    # EventSource reconnects to the original URL plus the header: the later position wins.
    both = await read_until_end(http, url, params={"since_seq": 5}, headers={"Last-Event-ID": "38"})
    assert log_texts(both) == ["l39", "l40"]
    past_end = await read_until_end(http, url, params={"since_seq": 99})
    assert log_texts(past_end) == [] and past_end[-1].event == "end"
    bad = await http.get(url, headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 422


async def test_truncated_once_then_oldest_kept_line(
    base_url: str, http: httpx.AsyncClient, sessions: Sessions
) -> None:
    # The DB cap deleted seqs 1..100; 101..130 are kept.
    run_id = await run_rows.insert_run(sessions, status="completed", log_dropped_lines=100)
    await run_rows.add_lines(sessions, run_id, [f"k{i}" for i in range(101, 131)], first_seq=101)
    events = await read_until_end(http, logs_url(base_url, run_id), params={"since_seq": 40})
    kinds = [e.event for e in events if e.event in ("truncated", "log")]
    assert kinds == ["truncated"] + ["log"] * 30
    truncated = next(e for e in events if e.event == "truncated")
    assert truncated.data == {"dropped": 60, "resume_seq": 101}
    assert log_texts(events)[0] == "k101"
    kept = await read_until_end(http, logs_url(base_url, run_id), params={"since_seq": 110})
    assert not [e for e in kept if e.event == "truncated"]
    assert log_texts(kept)[0] == "k111"


async def test_live_run_streams_lines_status_and_end_last(
    base_url: str, http: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="running")
    reader = asyncio.create_task(read_until_end(http, logs_url(base_url, run_id)))
    await asyncio.sleep(0.3)
    assert not reader.done()
    for batch in range(5):
        await run_rows.add_lines(sessions, run_id, [f"b{batch}-{i}" for i in range(100)])
        await run_rows.add_metrics(sessions, run_id, batch + 1, {"loss": 1.0 / (batch + 1)})
        await asyncio.sleep(0.02)
    await run_rows.set_status(sessions, run_id, "failed", reason="exit 1")
    events = await reader
    assert log_texts(events) == [f"b{b}-{i}" for b in range(5) for i in range(100)]
    assert [e.data["step"] for e in events if e.event == "metric"] == [1, 2, 3, 4, 5]
    assert events[-1] == Event("end", {"status": "failed"}, None)
    assert [e.data["status"] for e in events if e.event == "status"][-1] == "failed"


async def _sse_gauge(http: httpx.AsyncClient, base: str) -> float:
    text = (await http.get(f"{base}/metrics")).text
    match = re.search(r"^tunix_rt_sse_clients (\S+)$", text, re.MULTILINE)
    assert match is not None
    return float(match.group(1))


async def test_heartbeat_on_idle_run_and_disconnect_frees_stream(
    settings: Settings, http: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="pending")
    async with live_server(settings.model_copy(update={"sse_heartbeat_s": 0.2})) as base:
        seen: list[Event] = []
        async with contextlib.aclosing(iter_events(http, logs_url(base, run_id))) as stream:
            async for event in stream:
                seen.append(event)
                if sum(e.event == "heartbeat" for e in seen) == 3:
                    break
            assert await _sse_gauge(http, base) == 1
        assert [e.event for e in seen] == ["status", "heartbeat", "heartbeat", "heartbeat"]
        assert "ts" in seen[1].data
    # A long heartbeat: the stream would only notice a gone client at its next send.
    async with live_server(settings.model_copy(update={"sse_heartbeat_s": 60})) as base:
        async with contextlib.aclosing(iter_events(http, logs_url(base, run_id))) as stream:
            first = await anext(stream)
            assert first.event == "status"
        for _ in range(50):
            if await _sse_gauge(http, base) == 0:
                break
            await asyncio.sleep(0.02)
        assert await _sse_gauge(http, base) == 0


async def test_reconnects_at_random_points_reassemble_the_log_exactly(
    base_url: str, http: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    """20,000 lines written by the real LogWriter while a client keeps reconnecting."""
    run_id = await run_rows.insert_run(sessions, status="running")
    log_path = settings.artifacts / str(run_id) / "logs" / "output.log"
    expected = [f"{i:05d} {'x' * (i % 37)}" for i in range(1, 20_001)]

    async def write() -> None:
        writer = LogWriter(
            sessions,
            None,
            run_id,
            log_path,
            cap_bytes=64 * 1024 * 1024,
            flush_lines=500,
            flush_ms=20,
            tail_lines=5,
        )
        await writer.open()
        for start in range(0, len(expected), 400):
            writer.feed("stdout", "".join(f"{t}\n" for t in expected[start : start + 400]).encode())
            await asyncio.sleep(0.005)
        await writer.close()
        await run_rows.set_status(sessions, run_id, "completed")

    progress = {"last_seq": 0, "writer_done": 0}

    async def write_then_mark() -> None:
        await write()
        progress["writer_done"] = 1

    reader = read_with_reconnects(
        http, logs_url(base_url, run_id), seed=7, max_lines_per_connection=2500, progress=progress
    )
    try:
        result, _ = await asyncio.wait_for(asyncio.gather(reader, write_then_mark()), 60)
    except TimeoutError:
        pytest.fail(f"stream stalled: {progress}")
    assert result.connections > 5
    assert result.end_status == "completed"
    assert result.texts == expected
    assert result.texts == log_path.read_text().splitlines()


async def test_hundred_concurrent_clients_on_one_run(base_url: str, sessions: Sessions) -> None:
    run_id = await run_rows.insert_run(sessions, status="running")
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60), limits=limits) as http:
        readers = [
            asyncio.create_task(read_until_end(http, logs_url(base_url, run_id), timeout_s=90))
            for _ in range(100)
        ]
        await asyncio.sleep(0.5)
        for batch in range(5):
            await run_rows.add_lines(sessions, run_id, [f"{batch}:{i}" for i in range(100)])
            await asyncio.sleep(0.05)
        await run_rows.set_status(sessions, run_id, "completed")
        results = await asyncio.gather(*readers)
    expected = [f"{b}:{i}" for b in range(5) for i in range(100)]
    for events in results:
        assert log_texts(events) == expected
        assert events[-1].event == "end"


async def test_snapshot_returns_tail_and_resume_seq(
    base_url: str, http: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="running", log_dropped_lines=0)
    await run_rows.add_lines(sessions, run_id, [f"s{i}" for i in range(1, 31)])
    url = f"{base_url}/api/tunix/runs/{run_id}/logs/snapshot"
    snap = (await http.get(url, params={"tail": 5})).json()
    assert [line["text"] for line in snap["lines"]] == ["s26", "s27", "s28", "s29", "s30"]
    assert snap["last_seq"] == 30 and snap["status"] == "running"
    assert snap["dropped_lines"] == 0 and snap["run_id"] == str(run_id)
    assert (await http.get(url, params={"tail": 10_001})).status_code == 422
    empty_run = await run_rows.insert_run(sessions, status="pending")
    empty = (await http.get(f"{base_url}/api/tunix/runs/{empty_run}/logs/snapshot")).json()
    assert empty["lines"] == [] and empty["last_seq"] == 0
    # Resuming from the snapshot continues with the next line and nothing before it.
    await run_rows.add_lines(sessions, run_id, ["s31"])
    await run_rows.set_status(sessions, run_id, "completed")
    events = await read_until_end(http, logs_url(base_url, run_id), params={"since_seq": 30})
    assert log_texts(events) == ["s31"]


async def test_cap_dropped_lines_give_one_truncated_event_then_the_kept_tail(
    base_url: str, http: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    """The real LogWriter with a 4 KiB cap deletes the oldest lines; a late reader from the
    start gets one `truncated` and then every kept line, and the counts add up."""
    run_id = await run_rows.insert_run(sessions, status="running")
    log_path = settings.artifacts / str(run_id) / "logs" / "output.log"
    writer = LogWriter(
        sessions, None, run_id, log_path, cap_bytes=4096, flush_lines=50, flush_ms=10, tail_lines=5
    )
    await writer.open()
    for start in range(0, 2000, 100):
        writer.feed(
            "stdout", "".join(f"line-{i:04d}\n" for i in range(start, start + 100)).encode()
        )
        await asyncio.sleep(0.01)
    await writer.close()
    await run_rows.set_status(sessions, run_id, "completed")

    events = await read_until_end(http, logs_url(base_url, run_id))
    truncated = [e for e in events if e.event == "truncated"]
    assert len(truncated) == 1
    logs = [e.data for e in events if e.event == "log"]
    dropped, resume = truncated[0].data["dropped"], truncated[0].data["resume_seq"]
    assert dropped > 0 and resume == dropped + 1 == logs[0]["seq"]
    assert [x["seq"] for x in logs] == list(range(resume, 2001))
    assert dropped + len(logs) == 2000
    assert [x["text"] for x in logs] == log_path.read_text().splitlines()[dropped:]
    snapshot = (await http.get(f"{base_url}/api/tunix/runs/{run_id}/logs/snapshot")).json()
    assert snapshot["dropped_lines"] == dropped and snapshot["last_seq"] == 2000
