"""Export jobs (POST /api/tunix/runs/{id}/export) on both databases, through the real queue
and an in-process worker running a fixture child: refusals are 4xx, a finished job becomes
the source run's directory artifact export/<format> (downloadable as a tar), the exported
checkpoint is pinned, a newer export replaces the older one, a failed export registers
nothing."""

from __future__ import annotations

import io
import sys
import tarfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from sqlalchemy import select

from tests.integration.test_evaluation_jobs import dataset_key, trained_run  # noqa: F401
from tests.integration.worker_helpers import Sessions, wait_terminal
from tunix_rt.db import models
from tunix_rt.runs import materialize, queue
from tunix_rt.settings import Settings
from tunix_rt.worker.context import WorkerContext
from tunix_rt.worker.loop import Worker

EXPORT_CHILD = str(Path(__file__).resolve().parents[1] / "fixtures" / "export_child.py")


@asynccontextmanager
async def export_worker(
    settings: Settings, sessions: Sessions, mode: str = "ok"
) -> AsyncIterator[Worker]:
    custom = settings.model_copy(update={"worker_command": [sys.executable, EXPORT_CHILD, mode]})
    worker = Worker(WorkerContext(settings=custom, sessions=sessions, hub=None))
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop(drain_timeout_s=0)


async def export(client: httpx.AsyncClient, run_id: str, **body: object) -> httpx.Response:
    return await client.post(f"/api/tunix/runs/{run_id}/export", json=body)


async def pins(sessions: Sessions, run_id: str) -> list[tuple[int, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(models.CheckpointPin.step, models.CheckpointPin.reason).where(
                models.CheckpointPin.run_id == uuid.UUID(run_id)
            )
        )
        return sorted((int(step), str(reason)) for step, reason in rows.all())


async def make_lora(sessions: Sessions, run_id: str) -> None:
    """Mark a finished fixture run as a LoRA run (the fixture child trains nothing)."""
    async with sessions() as session:
        run = await session.get(models.Run, uuid.UUID(run_id))
        assert run is not None
        await queue.update_run_fields(
            session, run.id, request={**run.request, "lora_rank": 4, "lora_alpha": 8.0}
        )
        await session.commit()


async def test_export_refusals(
    client: httpx.AsyncClient,
    settings: Settings,
    sessions: Sessions,
    dataset_key: str,  # noqa: F811
) -> None:
    unknown = await export(client, str(uuid.uuid4()))
    assert unknown.status_code == 404 and "not found" in unknown.text

    pending = await client.post("/api/tunix/run", json={"dataset_key": dataset_key})
    response = await export(client, pending.json()["run_id"])
    assert response.status_code == 409, response.text
    assert "no committed checkpoint" in response.text

    run_id = await trained_run(client, settings, sessions, dataset_key)
    response = await export(client, run_id, format="peft")
    assert response.status_code == 422, response.text
    assert "format peft needs a LoRA run" in response.text
    bad = await export(client, run_id, format="gguf")
    assert bad.status_code == 422 and "format" in bad.text
    bad = await export(client, run_id, checkpoint="newest")
    assert bad.status_code == 422
    bad = await export(client, run_id, checkpoint=-1)
    assert bad.status_code == 422
    missing = await export(client, run_id, checkpoint=7)
    assert missing.status_code == 404 and "no checkpoint at step 7" in missing.text
    best = await export(client, run_id, checkpoint="best")
    assert best.status_code == 409 and "no best checkpoint" in best.text
    assert await pins(sessions, run_id) == []  # nothing refused was pinned


async def test_an_export_job_becomes_the_runs_directory_artifact(
    client: httpx.AsyncClient,
    settings: Settings,
    sessions: Sessions,
    dataset_key: str,  # noqa: F811
) -> None:
    run_id = await trained_run(client, settings, sessions, dataset_key)
    response = await export(client, run_id, format="hf", checkpoint=3)
    assert response.status_code == 202, response.text
    submitted = response.json()
    assert submitted["step"] == 3 and submitted["artifact"] == "export/hf"
    assert submitted["status"] == "pending"
    assert await pins(sessions, run_id) == [(3, "export:hf")]

    async with export_worker(settings, sessions):
        job = await wait_terminal(sessions, uuid.UUID(submitted["job_id"]))
    assert job.status == "completed" and job.kind == "export", job.error
    assert job.result is not None and job.result["artifact"] == "export/hf"
    artifacts = (await client.get(f"/api/tunix/runs/{run_id}/artifacts")).json()
    exported = [a for a in artifacts if a["name"] == "export/hf"]
    assert len(exported) == 1 and exported[0]["kind"] == "directory"
    assert exported[0]["id"] == job.result["artifact_id"]
    download = await client.get(f"/api/tunix/runs/{run_id}/artifacts/{exported[0]['id']}/download")
    assert download.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(download.content)) as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
        weights = tar.extractfile(
            next(m for m in tar.getmembers() if m.name.endswith(".safetensors"))
        )
        assert weights is not None and weights.read() == b"w" * 120
    assert [n.rsplit("/", 1)[-1] for n in names] == ["config.json", "model.safetensors"]
    run_dir = materialize.run_dir_of(settings, uuid.UUID(run_id))
    first_dir = run_dir / "exports" / submitted["job_id"] / "hf"
    assert (first_dir / "config.json").is_file()

    # Exported again (peft, now that the run is LoRA; hf once more): hf's row points at the
    # newer directory and the older one is removed.
    await make_lora(sessions, run_id)
    again = (await export(client, run_id)).json()
    peft = (await export(client, run_id, format="peft")).json()
    async with export_worker(settings, sessions):
        for job_id in (again["job_id"], peft["job_id"]):
            job = await wait_terminal(sessions, uuid.UUID(job_id))
            assert job.status == "completed", job.error
    names = sorted(
        a["name"] for a in (await client.get(f"/api/tunix/runs/{run_id}/artifacts")).json()
    )
    assert "export/hf" in names and "export/peft" in names
    assert not first_dir.exists()
    assert (run_dir / "exports" / again["job_id"] / "hf" / "model.safetensors").is_file()
    assert await pins(sessions, run_id) == [(3, "export:hf"), (3, "export:peft")]


async def test_a_failed_export_registers_nothing(
    client: httpx.AsyncClient,
    settings: Settings,
    sessions: Sessions,
    dataset_key: str,  # noqa: F811
) -> None:
    run_id = await trained_run(client, settings, sessions, dataset_key)
    submitted = (await export(client, run_id)).json()
    async with export_worker(settings, sessions, "fail"):
        job = await wait_terminal(sessions, uuid.UUID(submitted["job_id"]))
    assert job.status == "failed" and "export failed on purpose" in (job.error or "")
    names = [a["name"] for a in (await client.get(f"/api/tunix/runs/{run_id}/artifacts")).json()]
    assert not any(name.startswith("export/") for name in names)
