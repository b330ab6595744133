"""Routes: submit an evaluation (a job on the run queue) and cancel it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from tunix_rt import errors
from tunix_rt.api.deps import Context, Session
from tunix_rt.evaluations import jobs, store
from tunix_rt.evaluations.schema import EvaluationOut, EvaluationRequest, EvaluationSubmitted

router = APIRouter(prefix="/api/evaluations", tags=["evaluations"])


@router.post("", response_model=EvaluationSubmitted, status_code=202)
async def submit_evaluation(
    request: EvaluationRequest, ctx: Context, session: Session
) -> EvaluationSubmitted:
    """Queue an evaluation of a checkpoint ("latest", "best" or a step) of a run on a dataset
    split. Returns at once; follow the job's logs and status through the runs API (job_id)."""
    if request.dataset_key is not None and "\x00" in request.dataset_key:
        raise errors.ValidationFailed("dataset_key must not contain NUL characters")
    evaluation, job, notice = await jobs.submit_evaluation(session, request, ctx.settings)
    await session.commit()
    ctx.hub.publish_local(notice)
    return EvaluationSubmitted(
        evaluation_id=evaluation.id,
        status=evaluation.status,
        job_id=job.id,
        run_id=request.run_id,
        step=evaluation.step or 0,
    )


@router.post("/{evaluation_id}/cancel", response_model=EvaluationOut)
async def cancel_evaluation(
    evaluation_id: uuid.UUID, ctx: Context, session: Session
) -> EvaluationOut:
    """Cancel a queued or running evaluation job (409 once it has ended)."""
    _evaluation, notice = await jobs.cancel_evaluation(session, evaluation_id)
    await session.commit()
    if notice is not None:
        ctx.hub.publish_local(notice)
    return await store.evaluation_out(session, await store.read_evaluation(session, evaluation_id))
