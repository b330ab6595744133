"""Routes: a run's artifacts (listing and download by id; never a filesystem path)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from tunix_rt import errors
from tunix_rt.api.deps import Context, Session
from tunix_rt.runs import downloads, registry

router = APIRouter(prefix="/api/tunix/runs", tags=["artifacts"])

SAFE_FILENAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


class ArtifactOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: Literal["file", "directory"]
    size_bytes: int
    sha256: str
    created_at: datetime


def _download_name(name: str, *, suffix: str = "") -> str:
    cleaned = SAFE_FILENAME_RE.sub("_", name.replace("/", "_")).strip("._") or "artifact"
    return f"{cleaned[:200]}{suffix}"


@router.get("/{run_id}/artifacts", response_model=list[ArtifactOut])
async def list_run_artifacts(run_id: uuid.UUID, session: Session) -> list[ArtifactOut]:
    await registry.ensure_run_exists(session, run_id)
    rows = await registry.list_artifacts(session, run_id)
    return [
        ArtifactOut(
            id=row.id,
            name=row.name,
            kind="directory" if row.kind == "directory" else "file",
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            created_at=row.created_at,
        )
        for row in rows
    ]


@router.get(
    "/{run_id}/artifacts/{artifact_id}/download",
    responses={
        200: {"content": {"application/octet-stream": {}, "application/x-tar": {}}},
        206: {"description": "Partial content (Range)"},
        416: {"description": "Range not satisfiable"},
    },
)
async def download_run_artifact(
    run_id: uuid.UUID,
    artifact_id: str,
    ctx: Context,
    session: Session,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> Response:
    """Stream a file (Range, ETag) or a directory as a tar archive."""
    # A malformed artifact id is simply an artifact this run does not have (404), so that
    # hostile ids ("..", encoded separators) never reach anything but this parse.
    try:
        parsed_id = uuid.UUID(artifact_id)
    except ValueError:
        raise errors.NotFound(f"artifact {artifact_id[:80]!r} not found") from None
    await registry.ensure_run_exists(session, run_id)
    artifact = await registry.read_artifact(session, run_id, parsed_id)
    await session.close()  # no connection is held while bytes stream
    run_dir = downloads.run_directory(ctx.settings.artifacts, run_id)
    path = downloads.resolve_inside(run_dir, artifact.relpath)
    etag = f'"{artifact.sha256}"'
    if artifact.kind == "directory":
        if not path.is_dir():
            raise errors.NotFound("artifact directory not found")
        filename = _download_name(artifact.name, suffix=".tar")
        return StreamingResponse(
            downloads.iter_tar(path, _download_name(path.name)),
            media_type="application/x-tar",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return _file_response(path, artifact.name, etag, range_header, if_range)


def _file_response(
    path: Path, name: str, etag: str, range_header: str | None, if_range: str | None
) -> Response:
    handle, size = downloads.open_regular_file(path)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Content-Disposition": f'attachment; filename="{_download_name(name)}"',
    }
    start, end, status = 0, size - 1, 200
    # If-Range with a different validator means "the file changed: send all of it".
    if range_header is not None and (if_range is None or if_range.strip() == etag):
        try:
            selected = downloads.parse_range(range_header, size)
        except downloads.RangeNotSatisfiable as exc:
            handle.close()
            return JSONResponse(
                {"detail": exc.message},
                status_code=416,
                headers={"Content-Range": f"bytes */{size}", **headers},
            )
        if selected is not None:
            start, end = selected
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = max(0, end - start + 1)
    headers["Content-Length"] = str(length)
    return StreamingResponse(
        downloads.iter_file(handle, start, length),
        status_code=status,
        media_type="application/octet-stream",
        headers=headers,
    )
