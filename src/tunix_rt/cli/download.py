"""Download a run artifact: progress bar, resume with Range, sha256 check.

Bytes land in `<output>.part` first and are renamed only after the digest matches, so a
file at the output path is always complete. A `.part` left by an interrupted download is
resumed with `Range: bytes=<size>-`; a server that ignores the range (200) restarts the
file from zero, and one that answers 416 means the part is already whole (it is verified).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from tunix_rt.cli.client import ApiError, Client, describe_error

CHUNK_BYTES = 1024 * 1024
MAX_ATTEMPTS = 5
RETRY_DELAY_S = 1.0


def find_artifact(client: Client, run_id: str, ref: str) -> dict[str, Any]:
    """Resolve ARTIFACT (an artifact id or a name) among the run's artifacts."""
    artifacts: list[dict[str, Any]] = client.get_json(f"/api/tunix/runs/{run_id}/artifacts")
    for artifact in artifacts:
        if str(artifact["id"]) == ref:
            return artifact
    by_name = [a for a in artifacts if a["name"] == ref or a["name"].rstrip("/") == ref]
    if by_name:
        return by_name[0]
    # A unique prefix of an artifact id, like the short run ids.
    by_prefix = [a for a in artifacts if len(ref) >= 4 and str(a["id"]).startswith(ref.lower())]
    if len(by_prefix) == 1:
        return by_prefix[0]
    names = ", ".join(a["name"] for a in artifacts[:10]) or "none"
    raise ApiError(f"run {run_id} has no artifact {ref!r} (artifacts: {names})")


def default_output(artifact: dict[str, Any]) -> Path:
    name = Path(str(artifact["name"]).rstrip("/"))
    if artifact.get("kind") == "directory":
        # checkpoints/300 -> checkpoints-300.tar: the step alone is a poor file name.
        return Path("-".join(name.parts) + ".tar")
    return Path(name.name)


def download_artifact(
    client: Client,
    run_id: str,
    artifact: dict[str, Any],
    output: Path,
    console: Console,
) -> Path:
    """Download to `output` (resuming `output.part`); verify sha256; return the path."""
    part = output.with_name(output.name + ".part")
    output.parent.mkdir(parents=True, exist_ok=True)
    url = f"/api/tunix/runs/{run_id}/artifacts/{artifact['id']}/download"
    expected_size = artifact.get("size_bytes") if artifact.get("kind") == "file" else None
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(output.name, total=expected_size)
        stored = artifact.get("sha256") if artifact.get("kind") == "file" else None
        etag = _fetch_with_retries(client, url, part, progress, task, stored)
    # A directory streams as a tar built on the fly: its bytes have no stored digest.
    expected = (artifact.get("sha256") or etag) if artifact.get("kind") == "file" else None
    if expected:
        actual = _sha256_of(part)
        if actual != expected:
            part.unlink(missing_ok=True)
            raise ApiError(
                f"sha256 mismatch for {artifact['name']}: expected {expected}, got {actual} "
                "(the partial file was removed; run the command again)"
            )
    part.replace(output)
    return output


def _fetch_with_retries(
    client: Client,
    url: str,
    part: Path,
    progress: Progress,
    task: Any,
    expected_etag: str | None = None,
) -> str | None:
    last_error = ""
    for attempt in range(MAX_ATTEMPTS):
        try:
            return _fetch_once(client, url, part, progress, task, expected_etag)
        except httpx.TransportError as exc:
            # A dropped connection keeps what was written; the next attempt asks for the rest.
            last_error = type(exc).__name__
            time.sleep(RETRY_DELAY_S * (attempt + 1))
    raise ApiError(
        f"download failed after {MAX_ATTEMPTS} attempts ({last_error}); "
        f"run the command again to resume from {part}"
    )


def _fetch_once(
    client: Client,
    url: str,
    part: Path,
    progress: Progress,
    task: Any,
    expected_etag: str | None = None,
) -> str | None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    if have and expected_etag:
        # If the file changed since the part was written, the server sends it whole (200).
        headers["If-Range"] = f'"{expected_etag}"'
    with client.http.stream("GET", url, headers=headers, timeout=httpx.Timeout(30.0)) as resp:
        if resp.status_code == 416:
            return _strip_etag(resp.headers.get("etag"))
        if resp.status_code >= 400:
            resp.read()
            raise ApiError(describe_error(resp), resp.status_code, resp.text)
        mode = "ab" if resp.status_code == 206 else "wb"
        offset = have if resp.status_code == 206 else 0
        length = resp.headers.get("content-length")
        if length is not None:
            progress.update(task, total=offset + int(length))
        progress.update(task, completed=offset)
        with part.open(mode) as out:
            for chunk in resp.iter_bytes(CHUNK_BYTES):
                out.write(chunk)
                progress.advance(task, len(chunk))
        return _strip_etag(resp.headers.get("etag"))


def _strip_etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.removeprefix("W/").strip('"')
    return value if len(value) == 64 else None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()
