"""Route: a run's resolved parameters (its spec.json, flattened to dotted keys)."""

from __future__ import annotations

import functools
import uuid
from typing import Any

import anyio
from fastapi import APIRouter
from pydantic import BaseModel

from tunix_rt.api.deps import Context, Session
from tunix_rt.runs import params
from tunix_rt.runs.schema import root_labels

router = APIRouter(prefix="/api/tunix/runs", tags=["runs"])


class RunParams(BaseModel):
    data: dict[str, Any]
    source: params.Source


@router.get("/{run_id}/params", response_model=RunParams)
async def read_run_params(run_id: uuid.UUID, ctx: Context, session: Session) -> RunParams:
    """The spec the run trained with (its newest attempt's spec.json, source "spec.json"),
    or for a run no attempt has started the spec the worker would build (source "request").
    Keys are dotted (`hyperparameters.learning_rate`); server paths are shown relative to
    the configured roots."""
    place = await params.locate_spec(session, run_id, ctx.settings)
    await session.close()  # release the connection before file I/O
    spec, source = await anyio.to_thread.run_sync(
        functools.partial(params.resolve_spec, ctx.settings.artifacts, place)
    )
    return RunParams(data=params.shown_params(spec, root_labels(ctx.settings)), source=source)
