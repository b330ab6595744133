"""Routes: try a run's model (POST /api/tunix/runs/{id}/generate)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from tunix_rt.api.deps import Context
from tunix_rt.runs import generate

router = APIRouter(prefix="/api/tunix/runs", tags=["generate"])


def slots_of(request: Request, limit: int) -> generate.Slots:
    """The app's generation slots (one set per app: no module-level state)."""
    state = request.app.state
    slots: generate.Slots | None = getattr(state, "generate_slots", None)
    if slots is None:
        slots = generate.Slots(limit)
        state.generate_slots = slots
    return slots


@router.post(
    "/{run_id}/generate",
    response_model=generate.GenerationResponse,
    responses={
        404: {"description": "Unknown run or checkpoint step"},
        409: {"description": "The run has no (best) checkpoint, or it was deleted by retention"},
        422: {"description": "Bad body (no prompts, too many, too long), or not a training run"},
        429: {"description": "The server is already generating as much as it allows"},
        503: {"description": "The training stack (jax, tunix) is not installed"},
        504: {"description": "Generation took longer than TUNIX_RT_GENERATE_TIMEOUT_S"},
    },
)
async def generate_completions(
    run_id: uuid.UUID, body: generate.GenerationRequest, ctx: Context, request: Request
) -> generate.GenerationResponse:
    """Completions of raw prompts (rendered with the model's chat template) from a checkpoint
    of the run ("latest", "best" or a step). Temperature 0 is greedy, as evaluations
    generate; above 0 it samples (top_p, seed). The model is loaded in a child process for
    each call, so a call takes seconds (the first one also compiles)."""
    slots = slots_of(request, ctx.settings.generate_max_concurrent)
    return await generate.generate(ctx.sessions, ctx.settings, slots, run_id, body)
