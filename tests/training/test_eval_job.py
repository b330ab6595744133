"""A real evaluation job: a tiny run trains through the worker, then any of its checkpoints
is evaluated by a job on the same queue. Evaluating the final checkpoint again reproduces the
end-of-run evaluation example for example: the job restored exactly the trained weights.
Trying the model (POST .../generate, `runs sample` against a real server) on the same run
reproduces it too: greedy completions of the holdout prompts equal the evaluation's."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.cli_server import run_cli, start_server
from tests.training.test_through_worker import (  # noqa: F401  (fixtures)
    dataset_key,
    enqueue,
    start_worker,
    wait_terminal,
    wait_until,
    worker_env,
)
from tunix_rt.settings import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.training,
    pytest.mark.parametrize("backend", ["postgresql"], indirect=True),
]


async def examples(client: httpx.AsyncClient, evaluation_id: str) -> list[dict[str, Any]]:
    body = (await client.get(f"/api/evaluations/{evaluation_id}/examples?limit=100")).json()
    return list(body["data"])


async def test_evaluation_jobs_restore_any_checkpoint_and_reproduce_the_run(
    client: httpx.AsyncClient,
    dataset_key: str,  # noqa: F811  (the fixture imported above)
    start_worker: Callable[..., Any],  # noqa: F811
    make_client: Callable[..., Any],
    settings: Settings,
    jax_cache_dir: str,
    tmp_path: Path,
) -> None:
    start_worker("worker")
    run_id = await enqueue(client, dataset_key)  # 40 steps, checkpoints at 20 and 40
    run = await wait_terminal(client, run_id)
    assert run["status"] == "completed", run
    end_of_run = (await client.get(f"/api/evaluations?run_id={run_id}")).json()["data"]
    assert len(end_of_run) == 1 and end_of_run[0]["step"] == 40

    submitted = {}
    for checkpoint in ("latest", 20):
        response = await client.post(
            "/api/evaluations",
            json={"run_id": run_id, "checkpoint": checkpoint, "max_examples": 12},
        )
        assert response.status_code == 202, response.text
        submitted[checkpoint] = response.json()
    assert submitted["latest"]["step"] == 40 and submitted[20]["step"] == 20
    records = {}
    for checkpoint, job in submitted.items():
        finished = await wait_terminal(client, job["job_id"])
        # Progress reaches the job's live log (SSE, `runs logs -f`) batch by batch.
        assert "evaluated 12/12 examples" in finished["stdout_tail"], finished
        records[checkpoint] = await wait_until(
            client,
            f"/api/evaluations/{job['evaluation_id']}",
            lambda body: body["status"] in {"completed", "failed", "cancelled"},
            60,
        )
        assert records[checkpoint]["status"] == "completed", await client.get(
            f"/api/tunix/runs/{job['job_id']}"
        )
        assert records[checkpoint]["summary"]["n"] == 12

    # Same checkpoint, same examples, greedy decoding: the same outputs as the run's own.
    again = await examples(client, submitted["latest"]["evaluation_id"])
    original = await examples(client, end_of_run[0]["evaluation_id"])
    assert [e["generated"] for e in again] == [e["generated"] for e in original]
    assert records["latest"]["summary"]["exact_match"] == end_of_run[0]["summary"]["exact_match"]
    # The paired comparison of step 20 against step 40 is on the same 12 examples.
    compare = await client.get(
        "/api/compare/evaluations",
        params={
            "baseline": submitted[20]["evaluation_id"],
            "candidate": submitted["latest"]["evaluation_id"],
        },
    )
    assert compare.status_code == 200, compare.text
    assert compare.json()["n_paired"] == 12

    # Try the model: the holdout prompts, greedy, from the final checkpoint in the generate
    # child give exactly what the run's own evaluation generated (same weights, tokenizer,
    # chat template and greedy decoding).
    prompts = [e["prompt"] for e in original]
    async with make_client(jax_cache_dir=Path(jax_cache_dir)) as tryit:
        response = await tryit.post(
            f"/api/tunix/runs/{run_id}/generate",
            json={"prompts": prompts, "max_new_tokens": 40, "temperature": 0},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["step"] == 40
        assert [c["text"] for c in body["completions"]] == [e["generated"] for e in original]
        assert [c["answer"] for c in body["completions"]] == [e["extracted"] for e in original]
        # The CLI against a real server (no worker) on the same database and artifacts.
        server = start_server(
            settings.database_url,
            tmp_path / "serve-home",
            "--workers",
            "0",
            TUNIX_RT_ARTIFACT_ROOT=str(settings.artifacts),
            TUNIX_RT_JAX_CACHE_DIR=jax_cache_dir,
        )
        try:
            done = run_cli(
                server.url, "runs", "sample", run_id[:8], prompts[0], "--max-new-tokens", "40",
                "--checkpoint", "latest", "--json", timeout_s=300,
            )  # fmt: skip
        finally:
            server.stop()
        assert done.returncode == 0, done.stderr
        sampled = json.loads(done.stdout)
        assert sampled["step"] == 40
        assert sampled["completions"][0]["text"] == original[0]["generated"]
