"""dtype and mesh of a run request: validated as 4xx, carried into the spec the worker builds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import run_rows
from tunix_rt.training import spec as training_spec

Sessions = async_sessionmaker[AsyncSession]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"dtype": "float16"}, "dtype"),
        ({"mesh": {"data": 0, "model": 1}}, "mesh.data"),
        ({"mesh": {"data": 2, "model": 1, "pipeline": 2}}, "mesh.pipeline"),
        ({"mesh": "2x2"}, "mesh"),
        ({"mesh": {"data": 3}}, "batch_size 16 must be divisible by mesh.data 3"),
        ({"mesh": {"data": 4}, "batch_size": 6}, "batch_size 6 must be divisible by mesh.data 4"),
    ],
)
async def test_bad_precision_or_mesh_is_a_4xx_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], fragment: str
) -> None:
    resp = await client.post("/api/tunix/run", json={"dataset_key": "any-v1", **body})
    assert resp.status_code == 422, resp.text
    assert fragment in resp.text


async def test_dtype_and_mesh_reach_the_spec(client: httpx.AsyncClient, sessions: Sessions) -> None:
    request = {
        "dataset_key": "duel-v1",
        "model_id": "tiny",
        "batch_size": 8,
        "dtype": "bfloat16",
        "mesh": {"data": 2, "model": 2},
    }
    run_id = await run_rows.insert_run(sessions, status="pending", request=request)
    data = (await client.get(f"/api/tunix/runs/{run_id}/params")).json()["data"]
    assert data["hyperparameters.dtype"] == "bfloat16"
    assert data["hyperparameters.mesh.data"] == 2
    assert data["hyperparameters.mesh.model"] == 2
    plain = await run_rows.insert_run(sessions, status="pending", request={"dataset_key": "d-v1"})
    data = (await client.get(f"/api/tunix/runs/{plain}/params")).json()["data"]
    assert data["hyperparameters.dtype"] == "float32"
    assert data["hyperparameters.mesh"] is None


def test_the_spec_refuses_a_batch_the_data_axis_cannot_split() -> None:
    raw = {"run_dir": "/tmp/run", "hyperparameters": {"batch_size": 6, "mesh": {"data": 4}}}
    with pytest.raises(training_spec.SpecError, match=r"divisible by mesh\.data 4"):
        training_spec.parse_spec(raw)
    ok = training_spec.parse_spec(
        {**raw, "hyperparameters": {"batch_size": 8, "mesh": {"data": 4}}}
    )
    assert ok.hyperparameters.mesh is not None and ok.hyperparameters.mesh.model == 1


def test_a_sweep_may_search_dtype_but_not_mesh() -> None:
    from pydantic import ValidationError

    from tunix_rt.sweeps.schema import SEARCHABLE, SweepRequest

    assert "dtype" in SEARCHABLE and "mesh" not in SEARCHABLE
    body: dict[str, Any] = {"dataset_key": "duel-v1", "n_trials": 2, "seed": 1}
    with pytest.raises(ValidationError, match="cannot search over mesh"):
        SweepRequest.model_validate(
            {**body, "space": {"mesh": {"type": "categorical", "choices": ["2x2"]}}}
        )
    sweep = SweepRequest.model_validate(
        {
            **body,
            "base": {"mesh": {"data": 2, "model": 1}},
            "space": {"dtype": {"type": "categorical", "choices": ["float32", "bfloat16"]}},
        }
    )
    assert sweep.base["mesh"] == {"data": 2, "model": 1}
