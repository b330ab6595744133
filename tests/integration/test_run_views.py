"""The run registry read side: list, record, status, events, metrics, eval, delete."""

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta
from typing import get_args

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import run_rows
from tunix_rt.api.routes import run_views
from tunix_rt.db import models
from tunix_rt.db.types import utcnow
from tunix_rt.runs import states
from tunix_rt.settings import Settings

Sessions = async_sessionmaker[AsyncSession]
BASE = "/api/tunix/runs"


def test_status_filter_matches_the_state_machine() -> None:
    assert set(get_args(run_views.StatusName)) == set(states.STATUSES)


async def test_list_runs_newest_first_with_filters_and_pages(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    t0 = utcnow()
    ids = [
        await run_rows.insert_run(
            sessions,
            status=status,
            dataset_key=key,
            mode=mode,
            created_at=t0 + timedelta(seconds=i),
            stdout_tail="SECRET-TAIL",
        )
        for i, (status, key, mode) in enumerate(
            [
                ("completed", "a-v1", "async"),
                ("failed", "a-v1", "sync"),
                ("running", "b-v1", "async"),
                ("pending", "a-v1", "async"),
            ]
        )
    ]
    resp = await client.get(BASE)
    assert resp.status_code == 200
    body = resp.json()
    assert [r["run_id"] for r in body["data"]] == [str(i) for i in reversed(ids)]
    assert body["pagination"] == {"limit": 20, "offset": 0, "next_offset": None}
    assert "SECRET-TAIL" not in resp.text
    assert not {"request", "stdout_tail", "stderr_tail"} & set(body["data"][0])
    assert body["data"][0]["max_steps"] == 20

    page = (await client.get(BASE, params={"limit": 3})).json()
    assert page["pagination"]["next_offset"] == 3
    rest = (await client.get(BASE, params={"limit": 3, "offset": 3})).json()
    assert [r["run_id"] for r in rest["data"]] == [str(ids[0])]
    assert rest["pagination"]["next_offset"] is None

    by_key = (await client.get(BASE, params={"dataset_key": "a-v1"})).json()["data"]
    assert [r["run_id"] for r in by_key] == [str(ids[3]), str(ids[1]), str(ids[0])]
    by_status = (await client.get(BASE, params={"status": "failed"})).json()["data"]
    assert [r["run_id"] for r in by_status] == [str(ids[1])]
    by_mode = (await client.get(BASE, params={"mode": "sync"})).json()["data"]
    assert [r["run_id"] for r in by_mode] == [str(ids[1])]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"offset": -1},
        {"status": "bogus"},
        {"mode": "batch"},
        {"dataset_key": "a\x00b"},
    ],
)
async def test_list_runs_rejects_bad_query(
    client: httpx.AsyncClient, params: dict[str, object]
) -> None:
    resp = await client.get(BASE, params=params)
    assert resp.status_code == 422
    assert resp.json()["detail"]


async def test_read_run_full_record_and_status(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(
        sessions,
        status="completed",
        stdout_tail="step 20 loss 0.1\n",
        stderr_tail="warning: cpu\n",
        worker_id="host:1",
        last_step=20,
        exit_code=0,
        eval={"exact_match": 0.5, "format_ok": 1.0, "n": 10},
    )
    run = (await client.get(f"{BASE}/{run_id}")).json()
    assert run["run_id"] == str(run_id)
    assert run["status"] == "completed"
    assert run["stdout_tail"] == "step 20 loss 0.1\n"
    assert run["stderr_tail"] == "warning: cpu\n"
    assert run["worker_id"] == "host:1"
    assert run["request"]["max_steps"] == 20
    assert run["eval"] == {"exact_match": 0.5, "format_ok": 1.0, "n": 10}
    assert run["duration_s"] == pytest.approx(3.0, abs=0.01)

    status = (await client.get(f"{BASE}/{run_id}/status")).json()
    assert set(status) == {"run_id", "status", "attempt", "last_step", "updated_at"}
    assert status["status"] == "completed" and status["attempt"] == 1
    assert status["last_step"] == 20


async def test_events_oldest_first(client: httpx.AsyncClient, sessions: Sessions) -> None:
    run_id = await run_rows.insert_run(sessions, status="running")
    await run_rows.set_status(sessions, run_id, "cancel_requested", reason="user")
    await run_rows.set_status(sessions, run_id, "cancelled", reason="sigterm")
    events = (await client.get(f"{BASE}/{run_id}/events")).json()["data"]
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        (None, "pending"),
        ("pending", "running"),
        ("running", "cancel_requested"),
        ("cancel_requested", "cancelled"),
    ]
    assert events[-1]["reason"] == "sigterm"


async def test_metrics_curve_by_name_and_after_step(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions)
    for step in (3, 1, 2):
        await run_rows.add_metrics(sessions, run_id, step, {"loss": 1.0 / step, "grad_norm": step})
    loss = (await client.get(f"{BASE}/{run_id}/metrics", params={"name": "loss"})).json()
    assert [(p["name"], p["step"]) for p in loss["data"]] == [("loss", 1), ("loss", 2), ("loss", 3)]
    assert loss["data"][1]["value"] == pytest.approx(0.5)
    newer = (await client.get(f"{BASE}/{run_id}/metrics", params={"after_step": 2})).json()
    assert [(p["name"], p["step"]) for p in newer["data"]] == [("grad_norm", 3), ("loss", 3)]
    empty = await client.get(f"{BASE}/{uuid.uuid4()}/metrics")
    assert empty.status_code == 404
    nul = await client.get(f"{BASE}/{run_id}/metrics", params={"name": "lo\x00ss"})
    assert nul.status_code == 422


async def test_eval_is_404_until_written_then_served(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings, tmp_path: object
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed")
    url = f"{BASE}/{run_id}/eval"
    assert (await client.get(url)).status_code == 404
    run_dir = settings.artifacts / str(run_id)
    run_rows.write_file(run_dir / "eval.json", b'{"summary": {"exact_')
    assert (await client.get(url)).status_code == 404  # half written
    doc = {"summary": {"exact_match": 0.25, "format_ok": 1.0, "n": 4}, "examples": []}
    (run_dir / "eval.json").write_text(json.dumps(doc))
    resp = await client.get(url)
    assert resp.status_code == 200
    assert resp.json() == doc


async def test_eval_is_read_from_the_attempt_that_registered_it(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed")
    run_dir = settings.artifacts / str(run_id)
    stale = {"summary": {"exact_match": 0.1, "n": 1}, "examples": []}
    final = {"summary": {"exact_match": 0.9, "n": 1}, "examples": []}
    run_rows.write_file(run_dir / "attempts" / "1" / "eval.json", json.dumps(stale).encode())
    run_rows.write_file(run_dir / "attempts" / "2" / "eval.json", json.dumps(final).encode())
    await run_rows.add_artifact(sessions, run_id, "attempts/2/eval.json", name="eval.json")
    resp = await client.get(f"{BASE}/{run_id}/eval")
    assert resp.status_code == 200
    assert resp.json() == final


async def test_eval_symlink_out_of_run_dir_is_404(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed")
    secret = run_rows.write_file(settings.home / "secret.json", b'{"summary": "LEAK"}')
    run_dir = settings.artifacts / str(run_id)
    run_dir.mkdir(parents=True)
    os.symlink(secret, run_dir / "eval.json")
    resp = await client.get(f"{BASE}/{run_id}/eval")
    assert resp.status_code == 404
    assert "LEAK" not in resp.text


async def test_delete_refuses_active_run_and_removes_a_finished_one(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    active = await run_rows.insert_run(sessions, status="running")
    resp = await client.delete(f"{BASE}/{active}")
    assert resp.status_code == 409
    assert "running" in resp.json()["detail"]

    done = await run_rows.insert_run(sessions, status="failed")
    await run_rows.add_lines(sessions, done, ["a", "b"])
    await run_rows.add_metrics(sessions, done, 1, {"loss": 1.0})
    run_dir = settings.artifacts / str(done)
    run_rows.write_file(run_dir / "checkpoints" / "1" / "state", b"x" * 100)
    await run_rows.add_artifact(sessions, done, "checkpoints/1", kind="directory")
    outside = run_rows.write_file(settings.home / "keep.txt", b"keep")
    os.symlink(outside, run_dir / "link")

    assert (await client.delete(f"{BASE}/{done}")).status_code == 204
    assert not run_dir.exists()
    assert outside.read_bytes() == b"keep"  # a symlink inside is removed, never followed
    assert (await client.get(f"{BASE}/{done}")).status_code == 404
    async with sessions() as session:
        for table in (models.RunLogChunk, models.RunMetric, models.RunArtifact, models.RunEvent):
            count = await session.scalar(
                select(func.count()).select_from(table).where(table.run_id == done)
            )
            assert count == 0
    assert (await client.delete(f"{BASE}/{done}")).status_code == 404
    assert (await client.get(f"{BASE}/{active}")).status_code == 200


UNKNOWN_RUN_PATHS = [
    ("GET", ""),
    ("GET", "/status"),
    ("GET", "/events"),
    ("GET", "/metrics"),
    ("GET", "/eval"),
    ("GET", "/logs"),
    ("GET", "/logs/snapshot"),
    ("GET", "/artifacts"),
    ("GET", "/artifacts/5b1f9c1e-0000-4000-8000-000000000001/download"),
    ("DELETE", ""),
]


@pytest.mark.parametrize(("method", "suffix"), UNKNOWN_RUN_PATHS)
async def test_unknown_run_is_404_and_malformed_id_422(
    client: httpx.AsyncClient, method: str, suffix: str
) -> None:
    unknown = await client.request(method, f"{BASE}/{uuid.uuid4()}{suffix}")
    assert unknown.status_code == 404
    assert "not found" in unknown.json()["detail"]
    malformed = await client.request(method, f"{BASE}/not-a-uuid{suffix}")
    assert malformed.status_code == 422
    assert malformed.json()["detail"]
