"""Routes: export a run's checkpoint as a Hugging Face directory or PEFT adapters (a job)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from tunix_rt.api.deps import Context, Session
from tunix_rt.runs import exports

router = APIRouter(prefix="/api/tunix/runs", tags=["exports"])


@router.post(
    "/{run_id}/export",
    response_model=exports.ExportSubmitted,
    status_code=202,
    responses={
        404: {"description": "Unknown run or checkpoint step"},
        409: {"description": "The run has no (best) checkpoint, or it was pruned"},
        422: {"description": "Bad format, a dry run, or peft for a run without LoRA"},
    },
)
async def export_run(
    run_id: uuid.UUID, request: exports.ExportRequest, ctx: Context, session: Session
) -> exports.ExportSubmitted:
    """Queue an export of a checkpoint ("latest", "best" or a step; pinned) as `hf` (merged
    safetensors, config.json, tokenizer: loads with transformers' from_pretrained) or `peft`
    (adapter_model.safetensors + adapter_config.json; LoRA runs). Follow the job through the
    runs API (job_id); when it completes, the run has the directory artifact `export/<format>`,
    downloadable as a tar."""
    job, step, notice = await exports.submit_export(session, run_id, request, ctx.settings)
    await session.commit()
    ctx.hub.publish_local(notice)
    return exports.ExportSubmitted(
        job_id=job.id,
        run_id=run_id,
        format=request.format,
        step=step,
        artifact=exports.artifact_name(request.format),
        status=job.status,
    )
