"""POST /api/tunix/run with a Hugging Face checkpoint directory: model_id is optional when
the directory has a config.json, which is checked against the safetensors headers at submit
time (422 naming the tensor and both shapes), and the spec takes the architecture from it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.worker_helpers import DATASET_KEY, ensure_dataset

Sessions = async_sessionmaker[AsyncSession]
MakeClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hf"


def model_root(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(FIXTURES / "qwen3_untied", root / "qwen3")
    shutil.copytree(FIXTURES / "qwen3_tied", root / "broken")
    config = json.loads((root / "broken" / "config.json").read_text())
    config["num_key_value_heads"] = 4
    (root / "broken" / "config.json").write_text(json.dumps(config))
    (root / "bare").mkdir()
    return root


async def test_model_path_alone_is_enough_when_it_has_a_config_json(
    make_client: MakeClient, sessions: Sessions, tmp_path: Path
) -> None:
    await ensure_dataset(sessions)
    root = model_root(tmp_path)
    async with make_client(model_roots=[root.resolve()]) as c:
        body = {"dataset_key": DATASET_KEY, "model_path": str(root / "qwen3"), "lora_rank": 4}
        created = await c.post("/api/tunix/run", json=body)
        assert created.status_code == 202, created.text
        run = created.json()
        assert run["model_id"] == "qwen3-0.17m"
        params = (await c.get(f"/api/tunix/runs/{run['run_id']}/params")).json()["data"]
        assert params["model.family"] == "qwen3"
        assert "model.config_preset" not in params
        assert params["hyperparameters.lora_rank"] == 4


async def test_config_that_disagrees_with_the_weights_is_422_at_submit(
    make_client: MakeClient, sessions: Sessions, tmp_path: Path
) -> None:
    await ensure_dataset(sessions)
    root = model_root(tmp_path)
    async with make_client(model_roots=[root.resolve()]) as c:
        broken = await c.post(
            "/api/tunix/run", json={"dataset_key": DATASET_KEY, "model_path": str(root / "broken")}
        )
        assert broken.status_code == 422
        detail = broken.json()["detail"]
        assert "model.layers.0.self_attn.k_proj.weight" in detail
        assert "[32, 64]" in detail and "[64, 64]" in detail
        bare = await c.post(
            "/api/tunix/run", json={"dataset_key": DATASET_KEY, "model_path": str(root / "bare")}
        )
        assert bare.status_code == 422 and "config.json" in bare.json()["detail"]
        other_family = await c.post(
            "/api/tunix/run",
            json={
                "dataset_key": DATASET_KEY,
                "model_id": "llama3-1b",
                "model_path": str(root / "qwen3"),
            },
        )
        assert other_family.status_code == 422 and "qwen3" in other_family.json()["detail"]
