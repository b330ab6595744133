"""Routes: training stack status (GET /api/tunix/status).

The probe imports jax, which is slow and starts threads, so it runs once, out of process
(`python -m tunix_rt.training --probe`), on the first request; the answer is cached on the
app. Concurrent first requests share one probe task.
"""

from __future__ import annotations

import asyncio
import json
import sys

from fastapi import APIRouter, Request
from pydantic import BaseModel

router = APIRouter(prefix="/api/tunix", tags=["tunix"])

PROBE_TIMEOUT_S = 120.0


class TunixStatus(BaseModel):
    training_available: bool
    tunix_version: str | None
    jax_version: str | None
    devices: list[str]
    message: str


async def probe_training_stack() -> TunixStatus:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tunix_rt.training",
        "--probe",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), PROBE_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        return TunixStatus(
            training_available=False,
            tunix_version=None,
            jax_version=None,
            devices=[],
            message=f"training stack probe timed out after {PROBE_TIMEOUT_S:.0f}s",
        )
    try:
        return TunixStatus.model_validate(json.loads(stdout.decode().strip().splitlines()[-1]))
    except (ValueError, IndexError):
        tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return TunixStatus(
            training_available=False,
            tunix_version=None,
            jax_version=None,
            devices=[],
            message=f"training stack probe failed (exit {process.returncode}): {tail[0]}",
        )


@router.get("/status", response_model=TunixStatus)
async def read_tunix_status(request: Request) -> TunixStatus:
    state = request.app.state
    task: asyncio.Task[TunixStatus] | None = getattr(state, "tunix_status_probe", None)
    if task is None:
        task = asyncio.ensure_future(probe_training_stack())
        state.tunix_status_probe = task
    # shield: a client that disconnects must not cancel the probe other requests share.
    return await asyncio.shield(task)
