"""POST /api/tunix/runs/{id}/generate on both databases, with real child processes: the
fixture sample child (same protocol, no jax), and the real `tunix_rt.training.sample` in an
interpreter where jax cannot be imported. Refusals are 4xx; a missing stack is 503; a busy
server 429; a slow child 504 and killed; a checkpoint deleted mid-call is still served from
the call's own links. (The real model: tests/training/test_eval_job.py.)"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from tests.integration.test_evaluation_jobs import dataset_key, trained_run  # noqa: F401
from tests.integration.worker_helpers import Sessions
from tunix_rt.db import models
from tunix_rt.settings import Settings

SAMPLE_CHILD = str(Path(__file__).resolve().parents[1] / "fixtures" / "sample_child.py")
# The real sample program in an interpreter where `import jax` fails.
NO_JAX = [
    sys.executable,
    "-c",
    "import sys, runpy; sys.modules['jax'] = None; "
    "runpy.run_module('tunix_rt.training.sample', run_name='__main__')",
]


def fixture_child(mode: str) -> list[str]:
    return [sys.executable, SAMPLE_CHILD, mode]


async def generate(client: httpx.AsyncClient, run_id: str, **body: Any) -> httpx.Response:
    body.setdefault("prompts", ["What is 2+2?"])
    return await client.post(f"/api/tunix/runs/{run_id}/generate", json=body)


def staging_left(settings: Settings) -> list[Path]:
    root = settings.artifacts / ".generate"
    return list(root.iterdir()) if root.is_dir() else []


async def test_generate_refusals(
    client: httpx.AsyncClient,
    settings: Settings,
    sessions: Sessions,
    dataset_key: str,  # noqa: F811
) -> None:
    unknown = await generate(client, str(uuid.uuid4()))
    assert unknown.status_code == 404 and "not found" in unknown.text

    pending = await client.post("/api/tunix/run", json={"dataset_key": dataset_key})
    response = await generate(client, pending.json()["run_id"])
    assert response.status_code == 409, response.text
    assert "no committed checkpoint to generate from" in response.text

    run_id = await trained_run(client, settings, sessions, dataset_key)
    for body, words in [
        ({"prompts": []}, "prompts"),
        ({"prompts": ["  "]}, "prompt 0 is blank"),
        ({"prompts": ["x"] * 17}, "prompts"),
        ({"prompts": ["x" * 8001]}, "prompts.0"),
        ({"prompts": "one string"}, "prompts"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": 5000}, "max_new_tokens"),
        ({"temperature": -1}, "temperature"),
        ({"checkpoint": "newest"}, "checkpoint"),
        ({"checkpoint": -1}, "checkpoint"),
        ({"model": "other"}, "model"),
    ]:
        response = await generate(client, run_id, **body)
        assert response.status_code == 422, (body, response.text)
        assert words in response.json()["detail"], (body, response.text)
    missing = await generate(client, run_id, checkpoint=7)
    assert missing.status_code == 404 and "no checkpoint at step 7" in missing.text
    best = await generate(client, run_id, checkpoint="best")
    assert best.status_code == 409 and "no best checkpoint" in best.text
    # Files gone under a row still there (retention between its commit and the rename):
    for path in [p for p in (settings.artifacts / run_id).rglob("checkpoints/3") if p.is_dir()]:
        shutil.rmtree(path)
    gone = await generate(client, run_id)
    assert gone.status_code == 409 and "was deleted (retention)" in gone.text
    assert staging_left(settings) == []


async def test_generate_serves_the_checkpoint_through_the_child(
    make_client: Any,
    settings: Settings,
    sessions: Sessions,
    dataset_key: str,  # noqa: F811
) -> None:
    async with make_client(sample_command=fixture_child("echo")) as client:
        run_id = await trained_run(client, settings, sessions, dataset_key)
        response = await generate(client, run_id, prompts=["2+2?", "three"], max_new_tokens=8)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["step"] == 3 and body["run_id"] == run_id
        # The child got the run's spec, its tokenizer and the checkpoint's own files.
        assert [c["text"] for c in body["completions"]] == [
            "step 3 weights 100 tokenizer 10 model tiny\nAnswer: 4",
            "step 3 weights 100 tokenizer 10 model tiny\nAnswer: 5",
        ]
        assert [c["answer"] for c in body["completions"]] == ["4", "5"]
        assert body["prompt_tokens"] == [4, 5] and body["max_new_tokens"] == 8
        assert body["load_s"] == 0.1 and body["generate_s"] == 0.2 and body["wall_s"] > 0
        assert (await generate(client, run_id, checkpoint=3)).json()["step"] == 3
    assert staging_left(settings) == []


@pytest.mark.parametrize(
    ("command", "status", "words"),
    [
        (NO_JAX, 503, "the training stack is not installed: missing jax"),
        (fixture_child("exit2"), 422, "fixture child exit2"),
        (fixture_child("exit1"), 500, "generation failed (exit 1): fixture child exit1"),
        (["/nonexistent/python"], 503, "cannot start the sample command /nonexistent/python"),
    ],
    ids=["no-jax", "invalid", "failed", "no-command"],
)
async def test_child_errors_map_to_status_codes(
    make_client: Any,
    settings: Settings,
    sessions: Sessions,
    dataset_key: str,  # noqa: F811
    command: list[str],
    status: int,
    words: str,
) -> None:
    async with make_client(sample_command=command) as client:
        run_id = await trained_run(client, settings, sessions, dataset_key)
        response = await generate(client, run_id)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"], response.text
    assert staging_left(settings) == []


async def test_busy_server_refuses_and_a_slow_child_times_out_killed(
    make_client: Any,
    settings: Settings,
    sessions: Sessions,
    dataset_key: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLE_CHILD_SYNC", str(tmp_path))
    async with make_client(sample_command=fixture_child("sleep"), generate_timeout_s=3.0) as client:
        run_id = await trained_run(client, settings, sessions, dataset_key)
        first = asyncio.ensure_future(generate(client, run_id))
        deadline = time.monotonic() + 20
        while not (tmp_path / "pid").exists():
            assert time.monotonic() < deadline and not first.done()
            await asyncio.sleep(0.05)
        busy = await generate(client, run_id)
        assert busy.status_code == 429, busy.text
        assert "already generating (1 of 1 at a time)" in busy.json()["detail"]
        timed_out = await first
    assert timed_out.status_code == 504, timed_out.text
    assert "longer than 3s" in timed_out.json()["detail"]
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert staging_left(settings) == []


async def test_a_checkpoint_deleted_mid_call_is_still_served_then_refused(
    make_client: Any,
    settings: Settings,
    sessions: Sessions,
    dataset_key: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLE_CHILD_SYNC", str(tmp_path))
    async with make_client(sample_command=fixture_child("wait")) as client:
        run_id = await trained_run(client, settings, sessions, dataset_key)
        call = asyncio.ensure_future(generate(client, run_id))
        deadline = time.monotonic() + 20
        while not (tmp_path / "ready").exists():
            assert time.monotonic() < deadline and not call.done()
            await asyncio.sleep(0.05)
        # What retention does to a pruned step: the row first (committed), then the files.
        async with sessions() as session:
            await session.execute(
                delete(models.RunArtifact).where(
                    models.RunArtifact.run_id == uuid.UUID(run_id),
                    models.RunArtifact.name == "checkpoints/3",
                )
            )
            await session.commit()
        run_dir = settings.artifacts / run_id
        doomed = [p for p in run_dir.rglob("checkpoints/3") if p.is_dir()]
        assert doomed
        for path in doomed:
            shutil.rmtree(path)
        (tmp_path / "go").write_text("")
        served = await call
        assert served.status_code == 200, served.text
        assert "weights 100" in served.json()["completions"][0]["text"]
        # Once gone, the step is refused cleanly.
        again = await generate(client, run_id)
        assert again.status_code == 409, again.text
        assert "no committed checkpoint" in again.text
    assert staging_left(settings) == []
