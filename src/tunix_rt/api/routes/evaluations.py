"""Routes: evaluation records (list, read) and their per-example rows."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from tunix_rt import errors
from tunix_rt.api.deps import Session
from tunix_rt.evaluations import confusion, store
from tunix_rt.evaluations.schema import (
    EvaluationExampleList,
    EvaluationExampleOut,
    EvaluationList,
    EvaluationOut,
)

router = APIRouter(prefix="/api/evaluations", tags=["evaluations"])

Limit = Annotated[int, Query(ge=1, le=store.MAX_LIST_LIMIT)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


def _next_offset(offset: int, limit: int, total: int) -> int | None:
    return offset + limit if offset + limit < total else None


@router.get("", response_model=EvaluationList)
async def list_evaluations(
    session: Session,
    run_id: uuid.UUID | None = None,
    dataset_key: Annotated[str | None, Query(min_length=1, max_length=300)] = None,
    id_prefix: Annotated[
        str | None,
        Query(
            min_length=4,
            max_length=36,
            pattern=r"^[0-9a-fA-F-]+$",
            description="Only evaluations whose id starts with these hex digits (a short id).",
        ),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> EvaluationList:
    if dataset_key is not None and "\x00" in dataset_key:
        raise errors.ValidationFailed("dataset_key must not contain NUL characters")
    rows, total = await store.list_evaluations(
        session,
        run_id=run_id,
        dataset_key=dataset_key,
        id_prefix=id_prefix,
        limit=limit,
        offset=offset,
    )
    return EvaluationList(
        data=await store.evaluations_out(session, rows),
        total=total,
        next_offset=_next_offset(offset, limit, total),
    )


@router.get("/{evaluation_id}", response_model=EvaluationOut)
async def read_evaluation(evaluation_id: uuid.UUID, session: Session) -> EvaluationOut:
    return await store.evaluation_out(session, await store.read_evaluation(session, evaluation_id))


@router.get("/{evaluation_id}/examples", response_model=EvaluationExampleList)
async def list_evaluation_examples(
    evaluation_id: uuid.UUID,
    session: Session,
    correct: Annotated[
        bool | None, Query(description="Only right (true) or only wrong (false) examples.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> EvaluationExampleList:
    rows, total = await store.list_examples(
        session, evaluation_id, correct=correct, limit=limit, offset=offset
    )
    return EvaluationExampleList(
        data=[EvaluationExampleOut.of(row) for row in rows],
        total=total,
        next_offset=_next_offset(offset, limit, total),
    )


@router.get("/{evaluation_id}/confusion", response_model=confusion.Confusion)
async def read_confusion(evaluation_id: uuid.UUID, session: Session) -> confusion.Confusion:
    """Expected vs extracted answer counts ("other": an answer outside the classes, "none":
    no answer); 409 when the evaluation has more than 20 distinct expected answers."""
    return await confusion.read_confusion(session, evaluation_id)
