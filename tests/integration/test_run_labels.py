"""Run labels (name, tags, notes): set at submission, changed by PATCH in any status, and the
runs list's tag / name / kind filters. Both databases."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import run_rows
from tests.integration.worker_helpers import DATASET_KEY, ensure_dataset
from tunix_rt.db import models
from tunix_rt.db.types import utcnow

Sessions = async_sessionmaker[AsyncSession]
BASE = "/api/tunix/runs"


async def submit(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/tunix/run", json={"dataset_key": DATASET_KEY, "max_steps": 3, **fields}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def patch(client: httpx.AsyncClient, run_id: Any, body: Any) -> httpx.Response:
    return await client.patch(f"{BASE}/{run_id}", json=body)


async def stored_tags(sessions: Sessions, run_id: uuid.UUID) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(
            select(models.RunTag.tag).where(models.RunTag.run_id == run_id)
        )
        return sorted(rows)


async def test_submit_stores_labels_in_their_columns_not_the_request(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await ensure_dataset(sessions)
    body = await submit(
        client,
        name="  lr sweep #1 ",
        tags=["sweep", "lr:3e-3", "sweep", "base_v1.2"],
        notes="first try\nwith warmup",
    )
    assert body["name"] == "lr sweep #1"  # surrounding whitespace dropped
    assert body["tags"] == ["base_v1.2", "lr:3e-3", "sweep"]  # repeats dropped, sorted
    assert body["notes"] == "first try\nwith warmup"
    assert body["kind"] == "train" and body["best_step"] is None and body["best_value"] is None
    assert not {"name", "tags", "notes"} & set(body["request"])
    run_id = uuid.UUID(body["run_id"])
    assert await stored_tags(sessions, run_id) == ["base_v1.2", "lr:3e-3", "sweep"]
    async with sessions() as session:
        run = await session.get(models.Run, run_id)
        assert run is not None and run.name == "lr sweep #1" and run.notes.startswith("first")
    read = (await client.get(f"{BASE}/{run_id}")).json()
    assert read["tags"] == body["tags"] and read["name"] == body["name"]
    listed = (await client.get(BASE)).json()["data"]
    assert listed[0]["tags"] == body["tags"] and listed[0]["name"] == "lr sweep #1"
    assert "notes" not in listed[0]  # lists stay small: notes only on the record


async def test_submit_without_labels_has_empty_ones(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await ensure_dataset(sessions)
    body = await submit(client, name="   ")
    assert body["name"] is None and body["tags"] == [] and body["notes"] == ""


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "x" * 201}, "at most 200 characters"),
        ({"name": "two\nlines"}, "one line"),
        ({"name": "nul\x00"}, "NUL"),
        ({"tags": ["has space"]}, "letters, digits"),
        ({"tags": [""]}, "1 to 64"),
        ({"tags": ["x" * 65]}, "1 to 64"),
        ({"tags": [f"t{i}" for i in range(21)]}, "at most 20 tags"),
        ({"tags": "solo"}, "valid list"),
        ({"notes": "n" * 10_001}, "at most 10000 characters"),
        ({"notes": "a\x00b"}, "NUL"),
    ],
)
async def test_submit_refuses_bad_labels_with_a_clear_422(
    client: httpx.AsyncClient, fields: dict[str, Any], message: str
) -> None:
    response = await client.post("/api/tunix/run", json={"dataset_key": "x-v1", **fields})
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"], response.json()


async def test_patch_changes_labels_in_any_status(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    for status in ("pending", "running", "completed", "failed", "cancelled"):
        run_id = await run_rows.insert_run(sessions, status=status)
        response = await patch(client, run_id, {"name": f"{status} run", "tags": ["a", "b"]})
        assert response.status_code == 200, (status, response.text)
        body = response.json()
        assert body["name"] == f"{status} run" and body["tags"] == ["a", "b"]
        assert body["status"] == status
    async with sessions() as session:
        statuses = set(await session.scalars(select(models.Run.status)))
    assert statuses == {"pending", "running", "completed", "failed", "cancelled"}


async def test_patch_leaves_out_fields_alone_and_edits_the_tag_set(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed")
    body = (await patch(client, run_id, {"name": "base", "notes": "n1", "tags": ["x", "y"]})).json()
    assert (body["name"], body["notes"], body["tags"]) == ("base", "n1", ["x", "y"])

    body = (await patch(client, run_id, {"add_tags": ["z", "x"], "remove_tags": ["y"]})).json()
    assert body["tags"] == ["x", "z"] and body["name"] == "base" and body["notes"] == "n1"
    assert await stored_tags(sessions, run_id) == ["x", "z"]

    body = (await patch(client, run_id, {"remove_tags": ["never-there"]})).json()
    assert body["tags"] == ["x", "z"]
    body = (await patch(client, run_id, {"notes": "n2"})).json()
    assert (body["name"], body["notes"], body["tags"]) == ("base", "n2", ["x", "z"])
    body = (await patch(client, run_id, {"name": None, "notes": None, "tags": []})).json()
    assert (body["name"], body["notes"], body["tags"]) == (None, "", [])
    assert await stored_tags(sessions, run_id) == []
    body = (await patch(client, run_id, {"name": "again"})).json()
    assert body["name"] == "again"
    body = (await patch(client, run_id, {"name": ""})).json()
    assert body["name"] is None
    # The run's request and lifecycle columns are untouched by label edits.
    assert body["status"] == "completed" and body["request"]["max_steps"] == 20


async def test_patch_unknown_run_is_404(client: httpx.AsyncClient) -> None:
    response = await patch(client, uuid.uuid4(), {"name": "ghost"})
    assert response.status_code == 404 and "not found" in response.json()["detail"]
    response = await patch(client, "not-a-uuid", {"name": "ghost"})
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "nothing to change"),
        ({"tags": ["a"], "add_tags": ["b"]}, "not both"),
        ({"add_tags": ["a"], "remove_tags": ["a"]}, "both added and removed: a"),
        ({"tags": None}, "tags must be a list"),
        ({"tags": ["bad tag"]}, "letters, digits"),
        ({"add_tags": ["ok", "no/slash"]}, "letters, digits"),
        ({"remove_tags": ["a b"]}, "letters, digits"),
        ({"name": "n\x00"}, "NUL"),
        ({"notes": "\x00"}, "NUL"),
        ({"notes": "n" * 10_001}, "at most 10000 characters"),
        ({"name": "x" * 201}, "at most 200 characters"),
        ({"title": "x"}, "title"),
        ([], "valid dictionary"),
    ],
)
async def test_patch_bad_values_are_422_with_clear_messages(
    client: httpx.AsyncClient, sessions: Sessions, body: Any, message: str
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed", name="kept")
    response = await patch(client, run_id, body)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"], response.json()
    assert (await client.get(f"{BASE}/{run_id}")).json()["name"] == "kept"


async def test_patch_add_tags_past_the_limit_is_422_and_changes_nothing(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed")
    full = [f"t{i:02d}" for i in range(20)]
    assert (await patch(client, run_id, {"tags": full})).status_code == 200
    response = await patch(client, run_id, {"add_tags": ["one-more"], "name": "renamed"})
    assert response.status_code == 422 and "at most 20 tags" in response.json()["detail"]
    after = (await client.get(f"{BASE}/{run_id}")).json()
    assert after["tags"] == full and after["name"] is None  # the failed PATCH wrote nothing
    # Replacing one tag keeps the count at 20: allowed.
    response = await patch(client, run_id, {"add_tags": ["new"], "remove_tags": ["t00"]})
    assert response.status_code == 200 and len(response.json()["tags"]) == 20


async def test_concurrent_tag_edits_of_one_run_all_land(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="running")
    tags = [f"c{i}" for i in range(8)]
    responses = await asyncio.gather(
        *(patch(client, run_id, {"add_tags": [tag, "shared"]}) for tag in tags)
    )
    assert [r.status_code for r in responses] == [200] * len(tags), [r.text for r in responses]
    assert await stored_tags(sessions, run_id) == sorted([*tags, "shared"])


async def test_deleting_a_run_deletes_its_tags(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed")
    assert (await patch(client, run_id, {"tags": ["gone"]})).status_code == 200
    assert (await client.delete(f"{BASE}/{run_id}")).status_code == 204
    async with sessions() as session:
        left = await session.scalar(select(func.count()).select_from(models.RunTag))
    assert left == 0


async def test_retry_keeps_the_runs_current_labels(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await ensure_dataset(sessions)
    run_id = await run_rows.insert_run(
        sessions, status="failed", dataset_key=DATASET_KEY, name="flaky"
    )
    assert (await patch(client, run_id, {"tags": ["keep"], "notes": "why"})).status_code == 200
    response = await client.post(f"{BASE}/{run_id}/retry")
    assert response.status_code == 202, response.text
    retried = response.json()
    assert (retried["name"], retried["tags"], retried["notes"]) == ("flaky", ["keep"], "why")
    assert retried["retry_of"] == str(run_id)


async def seed_labelled(sessions: Sessions) -> dict[str, uuid.UUID]:
    """Five runs, oldest first: names, tags and one eval job."""
    t0 = utcnow()
    specs: list[tuple[str, str | None, list[str], str]] = [
        ("base", "Baseline LR 3e-3", ["sweep", "lr"], "train"),
        ("pct", "100% data_v2", ["sweep"], "train"),
        ("plain", None, [], "train"),
        ("eval", "Baseline eval", ["sweep", "lr"], "eval"),
        ("other", "big model", ["lr"], "train"),
    ]
    ids: dict[str, uuid.UUID] = {}
    for i, (key, name, tags, kind) in enumerate(specs):
        run_id = await run_rows.insert_run(
            sessions,
            status="completed",
            created_at=t0 + timedelta(seconds=i),
            name=name,
            kind=kind,
            best_step=10 * i if kind == "train" else None,
            best_value=0.5 + i / 10 if kind == "train" else None,
        )
        async with sessions() as session:
            session.add_all(models.RunTag(run_id=run_id, tag=tag) for tag in tags)
            await session.commit()
        ids[key] = run_id
    return ids


async def listed(client: httpx.AsyncClient, **params: Any) -> list[uuid.UUID]:
    response = await client.get(BASE, params=params)
    assert response.status_code == 200, response.text
    return [uuid.UUID(row["run_id"]) for row in response.json()["data"]]


async def test_list_filters_by_tags_name_and_kind(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    ids = await seed_labelled(sessions)
    # kind defaults to train: eval jobs do not clutter the runs list.
    assert await listed(client) == [ids[k] for k in ("other", "plain", "pct", "base")]
    assert await listed(client, kind="eval") == [ids["eval"]]
    assert len(await listed(client, kind="all")) == 5
    assert (await client.get(BASE, params={"kind": "both"})).status_code == 422

    assert await listed(client, tag="sweep") == [ids["pct"], ids["base"]]
    assert await listed(client, tag=["sweep", "lr"]) == [ids["base"]]  # all given tags
    assert await listed(client, tag=["sweep", "lr"], kind="all") == [ids["eval"], ids["base"]]
    assert await listed(client, tag=["sweep", "nope"]) == []
    assert await listed(client, tag="SWEEP") == []  # tags are case-sensitive

    assert await listed(client, q="baseline") == [ids["base"]]  # case-insensitive
    assert await listed(client, q="BASELINE", kind="all") == [ids["eval"], ids["base"]]
    assert await listed(client, q="lr 3E") == [ids["base"]]
    assert await listed(client, q="100%") == [ids["pct"]]  # % and _ match themselves
    assert await listed(client, q="%") == [ids["pct"]]
    assert await listed(client, q="_") == [ids["pct"]]
    assert await listed(client, q="a_v") == [ids["pct"]]
    assert await listed(client, q="nothing") == []
    assert await listed(client, q="base", tag="lr", kind="all") == [ids["eval"], ids["base"]]

    # Each row carries its own tags (one query for the page) and the best checkpoint.
    rows = (await client.get(BASE, params={"kind": "all"})).json()["data"]
    by_id = {uuid.UUID(r["run_id"]): r for r in rows}
    assert by_id[ids["base"]]["tags"] == ["lr", "sweep"]
    assert by_id[ids["plain"]]["tags"] == [] and by_id[ids["plain"]]["name"] is None
    assert by_id[ids["eval"]]["kind"] == "eval"
    assert by_id[ids["pct"]]["best_step"] == 10 and by_id[ids["pct"]]["best_value"] == 0.6


async def test_list_filter_values_are_checked(client: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tag": "bad tag"}, "letters, digits"),
        ({"tag": ""}, "1 to 64"),
        ({"q": "a\x00"}, "NUL"),
        ({"q": "x" * 201}, "q"),
        ({"tag": [f"t{i}" for i in range(21)]}, "tag"),
    ]
    for params, message in cases:
        response = await client.get(BASE, params=params)
        assert response.status_code == 422, (params, response.text)
        assert message in response.json()["detail"], (params, response.json())


async def test_short_id_lookup_finds_eval_jobs_with_kind_all(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed", kind="eval")
    prefix = str(run_id)[:8]
    assert await listed(client, id_prefix=prefix) == []
    assert await listed(client, id_prefix=prefix, kind="all") == [run_id]
