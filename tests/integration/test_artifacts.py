"""Artifact listing and downloads: ids not paths, Range, ETag, tar for directories, confinement."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import run_rows
from tunix_rt.db import models
from tunix_rt.settings import Settings

Sessions = async_sessionmaker[AsyncSession]
BASE = "/api/tunix/runs"
SECRET = b"TOP-SECRET-BYTES"
BODY = bytes(range(256)) * 40  # 10,240 bytes


async def make_file_artifact(
    sessions: Sessions, settings: Settings, relpath: str = "logs/output.log"
) -> tuple[uuid.UUID, uuid.UUID, str]:
    run_id = await run_rows.insert_run(sessions, status="completed")
    run_rows.write_file(settings.artifacts / str(run_id) / relpath, BODY)
    artifact_id = await run_rows.add_artifact(sessions, run_id, relpath, content=BODY)
    return run_id, artifact_id, f"{BASE}/{run_id}/artifacts/{artifact_id}/download"


async def test_list_artifacts_never_exposes_paths(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    run_id, artifact_id, _ = await make_file_artifact(sessions, settings)
    resp = await client.get(f"{BASE}/{run_id}/artifacts")
    assert resp.status_code == 200
    [item] = resp.json()
    assert set(item) == {"id", "name", "kind", "size_bytes", "sha256", "created_at"}
    assert item["id"] == str(artifact_id) and item["kind"] == "file"
    assert item["size_bytes"] == len(BODY)
    assert str(settings.artifacts) not in resp.text


async def test_download_full_file_matches_listed_sha256(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    run_id, _, url = await make_file_artifact(sessions, settings)
    listed = (await client.get(f"{BASE}/{run_id}/artifacts")).json()[0]
    resp = await client.get(url)
    assert resp.status_code == 200
    assert resp.content == BODY
    assert hashlib.sha256(resp.content).hexdigest() == listed["sha256"]
    assert resp.headers["content-length"] == str(len(BODY))
    assert resp.headers["etag"] == f'"{listed["sha256"]}"'
    assert resp.headers["accept-ranges"] == "bytes"
    assert "output.log" in resp.headers["content-disposition"]


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),  # first byte
        ("bytes=100-199", 100, 199),  # middle
        ("bytes=-10", len(BODY) - 10, len(BODY) - 1),  # suffix
        ("bytes=10000-", 10000, len(BODY) - 1),  # open ended
        ("bytes=10200-99999", 10200, len(BODY) - 1),  # end clamped
        ("bytes=-99999", 0, len(BODY) - 1),  # suffix longer than the file
    ],
)
async def test_range_requests_return_206(
    client: httpx.AsyncClient,
    sessions: Sessions,
    settings: Settings,
    range_header: str,
    start: int,
    end: int,
) -> None:
    _, _, url = await make_file_artifact(sessions, settings)
    resp = await client.get(url, headers={"Range": range_header})
    assert resp.status_code == 206
    assert resp.content == BODY[start : end + 1]
    assert resp.headers["content-range"] == f"bytes {start}-{end}/{len(BODY)}"
    assert resp.headers["content-length"] == str(end - start + 1)


@pytest.mark.parametrize(
    "range_header",
    ["bytes=20000-", "bytes=5-2", "bytes=-0", "bytes=abc", "items=0-1", "bytes=", "bytes=--1"],
)
async def test_invalid_or_unsatisfiable_range_is_416(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings, range_header: str
) -> None:
    _, _, url = await make_file_artifact(sessions, settings)
    resp = await client.get(url, headers={"Range": range_header})
    assert resp.status_code == 416
    assert resp.headers["content-range"] == f"bytes */{len(BODY)}"
    assert resp.json()["detail"]


async def test_if_range_mismatch_sends_the_whole_file(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    _, _, url = await make_file_artifact(sessions, settings)
    etag = (await client.get(url)).headers["etag"]
    same = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert same.status_code == 206 and same.content == BODY[:10]
    changed = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert changed.status_code == 200 and changed.content == BODY


async def test_directory_downloads_as_tar(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed")
    ckpt = settings.artifacts / str(run_id) / "checkpoints" / "100"
    files = {"state/array.bin": os.urandom(70_000), "_METADATA": b'{"step": 100}', "empty": b""}
    for rel, data in files.items():
        run_rows.write_file(ckpt / rel, data)
    secret = run_rows.write_file(settings.home / "secret.txt", SECRET)
    os.symlink(secret, ckpt / "leak")  # symlinks are never archived
    os.symlink(secret.parent, ckpt / "leakdir")
    artifact_id = await run_rows.add_artifact(sessions, run_id, "checkpoints/100", kind="directory")
    resp = await client.get(f"{BASE}/{run_id}/artifacts/{artifact_id}/download")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-tar"
    assert SECRET not in resp.content
    with tarfile.open(fileobj=io.BytesIO(resp.content)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {
            "100",
            "100/state",
            "100/state/array.bin",
            "100/_METADATA",
            "100/empty",
        }
        for rel, data in files.items():
            extracted = tar.extractfile(members[f"100/{rel}"])
            assert extracted is not None and extracted.read() == data


HOSTILE_RELPATHS = [
    "../secret.txt",
    "../../secret.txt",
    "logs/../../secret.txt",
    "checkpoints/../../secret.txt",
    "/etc/passwd",
    "__SECRET_ABS__",
    "..\\secret.txt",
    "logs/..%2F..%2Fsecret.txt",
    "%2e%2e/secret.txt",
    "link-to-secret",
    "linkdir/secret.txt",
    "linkdir",
    "logs/%00../secret.txt",
    "logs/output.log/../../secret.txt",
    "",
    "./../secret.txt",
    "dangling-link",
]


@pytest.mark.parametrize("relpath", HOSTILE_RELPATHS)
async def test_hostile_stored_paths_are_404_and_read_nothing(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings, relpath: str
) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed")
    run_dir = settings.artifacts / str(run_id)
    run_rows.write_file(run_dir / "logs" / "output.log", b"fine")
    secret = run_rows.write_file(settings.artifacts / "secret.txt", SECRET)
    os.symlink(secret, run_dir / "link-to-secret")
    os.symlink(secret.parent, run_dir / "linkdir")
    os.symlink(run_dir / "nowhere", run_dir / "dangling-link")
    relpath = relpath.replace("__SECRET_ABS__", str(secret))
    for kind in ("file", "directory"):
        artifact_id = await run_rows.add_artifact(sessions, run_id, relpath, kind=kind)
        resp = await client.get(f"{BASE}/{run_id}/artifacts/{artifact_id}/download")
        assert resp.status_code == 404, (relpath, kind)
        assert SECRET not in resp.content
        async with sessions() as session:
            await session.delete(await session.get(models.RunArtifact, artifact_id))
            await session.commit()


HOSTILE_IDS = [
    "..",
    "%2e%2e",
    "..%2F..%2Fsecret.txt",
    "%2Fetc%2Fpasswd",
    "not-a-uuid",
    "00000000-0000-0000-0000-00000000000g",
    "%00",
    "__OTHER_RUN__",
    "__RANDOM__",
    "..%5C..%5Csecret.txt",
    "%252e%252e",
    "secret.txt",
    "__ARTIFACT_OF_OTHER_RUN_UPPER__",
    ".%2e",
    "*",
]


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
async def test_hostile_artifact_ids_are_404(
    client: httpx.AsyncClient, sessions: Sessions, settings: Settings, hostile: str
) -> None:
    run_id, _, _ = await make_file_artifact(sessions, settings)
    other_run, other_artifact, _ = await make_file_artifact(sessions, settings, "eval.json")
    run_rows.write_file(settings.artifacts / "secret.txt", SECRET)
    hostile = (
        hostile.replace("__OTHER_RUN__", str(other_artifact))
        .replace("__RANDOM__", str(uuid.uuid4()))
        .replace("__ARTIFACT_OF_OTHER_RUN_UPPER__", str(other_artifact).upper())
    )
    raw_path = f"{BASE}/{run_id}/artifacts/{hostile}/download"
    # Send the path bytes as written: no client-side normalisation of dots or escapes.
    request = client.build_request("GET", "http://testserver/")
    request.url = request.url.copy_with(raw_path=raw_path.encode())
    resp = await client.send(request)
    assert resp.status_code == 404, hostile
    assert SECRET not in resp.content and BODY not in resp.content
    # The other run still serves its own artifact.
    own = await client.get(f"{BASE}/{other_run}/artifacts/{other_artifact}/download")
    assert own.status_code == 200 and own.content == BODY
