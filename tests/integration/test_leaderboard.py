"""GET /api/leaderboard: completed evaluations of a dataset ranked best first, with 95 %
Wilson intervals checked against the closed form computed here (both databases)."""

from __future__ import annotations

import math
import uuid

import httpx

from tests import eval_rows, run_rows
from tests.integration.worker_helpers import Sessions

Z95 = 1.959963984540054


def wilson(x: int, n: int) -> tuple[float, float]:
    """Wilson score interval, written out from its definition (independent of the code)."""
    p = x / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return centre - half, centre + half


async def add_evaluation(
    sessions: Sessions,
    dataset_key: str,
    correct: int,
    n: int,
    *,
    status: str = "completed",
    lr: float = 0.003,
    algorithm: str = "sft",
) -> tuple[uuid.UUID, uuid.UUID]:
    run_id = await run_rows.insert_run(
        sessions,
        status="completed",
        dataset_key=dataset_key,
        request={"dataset_key": dataset_key, "learning_rate": lr, "algorithm": algorithm},
        name=f"lr {lr}",
    )
    examples = [(f"k{i}", i < correct) for i in range(n)]
    evaluation_id = await eval_rows.insert_evaluation(
        sessions, examples, status=status, dataset_key=dataset_key, run_id=run_id
    )
    return run_id, evaluation_id


async def test_leaderboard_ranks_best_first_with_wilson_intervals(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    _, low = await add_evaluation(sessions, "lb-v1", 150, 200, lr=0.001)
    _, high = await add_evaluation(sessions, "lb-v1", 186, 200, lr=0.003)
    # The same value on fewer examples: a wider interval, ranked after the larger sample.
    _, small = await add_evaluation(sessions, "lb-v1", 93, 100, lr=0.01, algorithm="grpo")
    await add_evaluation(sessions, "lb-v1", 200, 200, status="failed")
    await add_evaluation(sessions, "other-v1", 200, 200)
    resp = await client.get("/api/leaderboard", params={"dataset_key": "lb-v1"})
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert [row["evaluation_id"] for row in data] == [str(high), str(small), str(low)]
    assert [row["rank"] for row in data] == [1, 2, 3]
    top = data[0]
    assert top["value"] == 0.93 and top["n"] == 200 and top["run_name"] == "lr 0.003"
    assert top["hyperparameters"] == {"learning_rate": 0.003}
    lo, hi = wilson(186, 200)
    assert math.isclose(top["ci_low"], lo, abs_tol=1e-9)
    assert math.isclose(top["ci_high"], hi, abs_tol=1e-9)
    assert data[1]["ci_low"] < top["ci_low"]  # fewer examples: less certain
    # A GRPO run says so; SFT, the default, is left out.
    assert data[1]["hyperparameters"] == {"algorithm": "grpo", "learning_rate": 0.01}


async def test_leaderboard_bad_input_is_4xx(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/leaderboard")).status_code == 422
    bad = await client.get("/api/leaderboard", params={"dataset_key": "x", "metric": "loss"})
    assert bad.status_code == 422
    nul = await client.get("/api/leaderboard", params={"dataset_key": "a\x00b"})
    assert nul.status_code == 422
    empty = await client.get("/api/leaderboard", params={"dataset_key": "nothing-v1"})
    assert empty.status_code == 200 and empty.json()["data"] == []
