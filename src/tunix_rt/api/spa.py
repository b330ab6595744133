"""Serve the built UI (src/tunix_rt/web/dist) and answer unknown non-API paths with the app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

DIST_DIR = Path(__file__).resolve().parent.parent / "web" / "dist"
NOT_BUILT_HTML = """<!doctype html><title>tunix-rt</title>
<h1>tunix-rt</h1><p>The web UI is not built. Run <code>make web</code> (or <code>make run</code>),
or use the API at <a href="/docs">/docs</a>.</p>"""


def mount_spa(app: FastAPI, dist_dir: Path = DIST_DIR) -> None:
    root = dist_dir.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def spa(path: str, request: Request) -> Response:
        if path.startswith(("api/", "api")) or path == "metrics":
            raise HTTPException(status_code=404, detail=f"no route {request.url.path}")
        index = root / "index.html"
        if path:
            candidate = (root / path).resolve()
            if candidate.is_relative_to(root) and candidate.is_file():
                headers = {}
                if "/assets/" in f"/{path}":
                    headers["Cache-Control"] = "public, max-age=31536000, immutable"
                return FileResponse(candidate, headers=headers)
        if index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(NOT_BUILT_HTML)
