"""GET /api/tunix/runs/{id}/params (the resolved spec, flattened) and metric wall_s."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import run_rows
from tunix_rt.db import models
from tunix_rt.db.types import utcnow
from tunix_rt.runs import params
from tunix_rt.settings import Settings

Sessions = async_sessionmaker[AsyncSession]
MakeClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
BASE = "/api/tunix/runs"


def write_spec(settings: Settings, run_id: uuid.UUID, relpath: str, spec: dict[str, Any]) -> None:
    path = settings.artifacts / str(run_id) / relpath
    run_rows.write_file(path, json.dumps(spec).encode())


async def test_pending_run_shows_the_spec_the_worker_would_build(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(
        sessions,
        status="pending",
        request={"dataset_key": "duel-v1", "model_id": "tiny", "max_steps": 20, "seed": 7},
    )
    resp = await client.get(f"{BASE}/{run_id}/params")
    assert resp.status_code == 200
    body = resp.json()
    assert body["source"] == "request"
    data = body["data"]
    assert data["hyperparameters.seed"] == 7
    assert data["hyperparameters.max_steps"] == 20
    assert data["hyperparameters.learning_rate"] == 3e-3  # the default build_spec fills in
    assert data["dataset.key"] == "duel-v1"
    assert data["model.preset"] == "tiny"
    assert data["run_dir"] == "."
    assert all("{" not in key and not isinstance(v, dict) for key, v in data.items())


async def test_running_attempt_spec_wins_over_the_request_and_hides_paths(
    make_client: MakeClient, sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    models_root = tmp_path / "models"
    run_id = await run_rows.insert_run(sessions, status="running", fence=2)
    spec = {
        "run_id": str(run_id),
        "hyperparameters": {"learning_rate": 0.05, "lora_rank": None},
        "model": {"path": str(models_root / "gemma"), "family": "gemma3"},
        "tokenizer": {"path": "/elsewhere/secret/tokenizer.model"},
        "extra": {"layers": [1, 2], "empty": {}},
    }
    # An older attempt's registered spec is not the newest one.
    write_spec(settings, run_id, "attempts/1/spec.json", {"hyperparameters": {"learning_rate": 1}})
    await run_rows.add_artifact(sessions, run_id, "attempts/1/spec.json", name="spec.json")
    write_spec(settings, run_id, "attempts/2/spec.json", spec)
    async with make_client(model_roots=[models_root]) as client:
        body = (await client.get(f"{BASE}/{run_id}/params")).json()
    assert body["source"] == "spec.json"
    data = body["data"]
    assert data["hyperparameters.learning_rate"] == 0.05
    assert data["hyperparameters.lora_rank"] is None
    assert data["model.path"] == "<model_root>/gemma"
    assert data["tokenizer.path"] == "<path>/tokenizer.model"
    assert data["extra.layers"] == [1, 2]
    assert data["extra.empty"] == {}
    assert str(tmp_path) not in json.dumps(body) and "/elsewhere" not in json.dumps(body)


async def test_finished_run_reads_its_registered_spec(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    # A run from before attempt directories: spec.json lies in the run directory itself.
    run_id = await run_rows.insert_run(sessions, status="completed")
    write_spec(settings, run_id, "spec.json", {"hyperparameters": {"batch_size": 4}})
    await run_rows.add_artifact(sessions, run_id, "spec.json")
    body = (await client.get(f"{BASE}/{run_id}/params")).json()
    assert body == {"data": {"hyperparameters.batch_size": 4}, "source": "spec.json"}


async def test_half_written_spec_falls_back_to_the_built_one(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    run_id = await run_rows.insert_run(sessions, status="running", fence=1)
    run_rows.write_file(settings.artifacts / str(run_id) / "attempts/1/spec.json", b'{"hyper')
    body = (await client.get(f"{BASE}/{run_id}/params")).json()
    assert body["source"] == "request"
    assert body["data"]["hyperparameters.max_steps"] == 20


async def test_params_of_unknown_or_malformed_run(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"{BASE}/{uuid.uuid4()}/params")
    assert missing.status_code == 404
    assert "not found" in missing.json()["detail"]
    assert (await client.get(f"{BASE}/not-a-uuid/params")).status_code == 422


def test_flatten_keeps_lists_and_marks_empty_objects() -> None:
    nested = {"a": {"b": {"c": 1}, "d": [1, {"x": 2}]}, "e": {}, "f": None}
    assert params.flatten(nested) == {"a.b.c": 1, "a.d": [1, {"x": 2}], "e": {}, "f": None}


async def test_metric_points_carry_seconds_since_the_run_started(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    t0 = utcnow() - timedelta(minutes=5)
    run_id = await run_rows.insert_run(sessions, status="running", started_at=t0)
    async with sessions() as session:
        session.add_all(
            [
                models.RunMetric(
                    run_id=run_id,
                    name="loss",
                    step=1,
                    value=2.0,
                    created_at=t0 + timedelta(seconds=5),
                ),
                models.RunMetric(
                    run_id=run_id,
                    name="eval/exact_match",
                    step=1,
                    value=0.25,
                    created_at=t0 + timedelta(seconds=12.5),
                ),
            ]
        )
        await session.commit()
    points = (await client.get(f"{BASE}/{run_id}/metrics")).json()["data"]
    assert {(p["name"], p["wall_s"]) for p in points} == {("loss", 5.0), ("eval/exact_match", 12.5)}

    pending = await run_rows.insert_run(sessions, status="pending")
    await run_rows.add_metrics(sessions, pending, 1, {"loss": 1.0})
    assert (await client.get(f"{BASE}/{pending}/metrics")).json()["data"][0]["wall_s"] is None
