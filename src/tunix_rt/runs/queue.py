"""The durable run queue. Every SQL statement that writes a run row lives in this module.

Functions take the caller's session and flush; the caller commits, then publishes the
returned notices locally (`hub.publish_local`). On PostgreSQL each write also queues a
NOTIFY in the same transaction, so other processes wake at commit.

Concurrency invariants:
- A claim is one UPDATE whose subquery picks the oldest highest-priority pending row
  (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer) and re-checks
  `status='pending'`, so a row is claimed by exactly one worker.
- Every status change is a compare-and-set on (id, status[, fence]); a loser updates zero
  rows and gets InvalidTransition.
- Fencing: a claim increments runs.fence. Every write made for an attempt (status, log
  chunks and counters, metrics, results, artifacts) runs in a transaction whose first
  statement is a guarded UPDATE of the run row (`fence = :fence AND status IN active`):
  zero rows -> errors.LeaseLost and the transaction writes nothing. The UPDATE holds the
  row's lock (PostgreSQL) or the write lock (SQLite) until commit, so no reap or claim can
  interleave between the check and the writes it protects.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Executable,
    Integer,
    String,
    Text,
    Update,
    Uuid,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.db.types import UTCDateTime, utcnow
from tunix_rt.runs import notify, states
from tunix_rt.runs.notify import Notice
from tunix_rt.runs.schema import LABEL_FIELDS, RunRequest

CAS_RETRIES = 5
ERROR_MAX_CHARS = 4000

Run = models.Run
RunTag = models.RunTag


@dataclass(frozen=True)
class Claim:
    run: models.Run
    queued_at: datetime  # when it became pending, for enqueue->claim latency


async def read_run(session: AsyncSession, run_id: uuid.UUID) -> models.Run:
    run = await session.get(Run, run_id, populate_existing=True)
    if run is None:
        raise errors.NotFound(f"run {run_id} not found")
    return run


async def _record_event(
    session: AsyncSession,
    run: models.Run,
    from_status: str | None,
    reason: str | None,
    kind: str,
) -> Notice:
    """Insert the run_events row and queue the NOTIFY for `kind`.

    On PostgreSQL the NOTIFY rides on the INSERT (RETURNING pg_notify(...)): one round trip
    instead of two on the hottest path (claim, finish). Same payload as notify.publish.
    """
    notice = Notice(kind, str(run.id))
    stmt = insert(models.RunEvent).values(
        run_id=run.id,
        from_status=from_status,
        to_status=run.status,
        reason=reason,
        attempt=run.attempt,
        worker_id=run.worker_id,
        created_at=utcnow(),
    )
    if session.get_bind().dialect.name == "postgresql":
        payload = json.dumps({"k": notice.kind, "r": notice.run_id})
        await session.execute(stmt.returning(func.pg_notify(notify.CHANNEL, payload)))
    else:
        await session.execute(stmt)
    return notice


async def enqueue_run(
    session: AsyncSession,
    request: RunRequest,
    *,
    mode: str = "async",
    default_timeout_s: int,
    default_max_attempts: int,
    retry_of: uuid.UUID | None = None,
) -> tuple[models.Run, Notice]:
    """Insert a pending run. The stored request keeps what the user sent (plus retry_of);
    its labels (name, tags, notes) go to their own columns and run_tags."""
    now = utcnow()
    stored = request.model_dump(mode="json", exclude_none=True, exclude=set(LABEL_FIELDS))
    name, notes, tags = request.name, request.notes, request.tags
    if retry_of is not None:
        stored["retry_of"] = str(retry_of)
        if not (name or notes or tags):
            # A retry continues the same experiment: it keeps the old run's current labels.
            old = await read_run(session, retry_of)
            name, notes = old.name, old.notes
            tags = list(await session.scalars(select(RunTag.tag).where(RunTag.run_id == old.id)))
    run = Run(
        id=uuid.uuid4(),
        dataset_key=request.dataset_key,
        mode=mode,
        status=states.PENDING,
        model_id=request.model_id,
        dry_run=request.dry_run,
        request=stored,
        priority=request.priority,
        timeout_s=request.timeout_s or default_timeout_s,
        max_attempts=request.max_attempts or default_max_attempts,
        attempt=0,
        created_at=now,
        queued_at=now,
        updated_at=now,
        name=name,
        notes=notes,
    )
    session.add(run)
    await session.flush()
    if tags:
        await session.execute(insert(RunTag), [{"run_id": run.id, "tag": tag} for tag in tags])
    reason = f"retry of {retry_of}" if retry_of is not None else "enqueued"
    return run, await _record_event(session, run, None, reason, "enqueued")


async def record_enqueued(session: AsyncSession, run: models.Run, reason: str) -> Notice:
    """The "enqueued" event of a run inserted by another module (an evaluation job)."""
    return await _record_event(session, run, None, reason, "enqueued")


async def claim_next_run(session: AsyncSession, worker_id: str, lease_s: float) -> Claim | None:
    """Claim the next pending run for `worker_id` in one statement; None when the queue is empty."""
    now = utcnow()
    params = {
        "p_worker_id": worker_id,
        "p_lease": now + timedelta(seconds=lease_s),
        "p_now": now,
        "p_reason": f"claimed by {worker_id}",
    }
    dialect = _dialect(session)
    stmt = _cached(("claim", dialect), partial(_claim_statement, dialect))
    run = await _execute_cas(session, stmt, params, states.PENDING)
    if run is None:
        return None
    return Claim(run=run, queued_at=run.queued_at)


# Statements are built once per shape and reused: building a CTE costs more Python time than
# the database takes to run it. Values travel as bind parameters (prefixed: SQLAlchemy
# reserves bare column names for the SET clause).
_STATEMENTS: dict[tuple[Any, ...], Executable] = {}


def _cached(key: tuple[Any, ...], build: Callable[[], Executable]) -> Executable:
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _claim_statement(dialect: str) -> Executable:
    now = bindparam("p_now", type_=UTCDateTime)
    next_id = (
        select(Run.id)
        .where(Run.status == states.PENDING)
        .order_by(Run.priority.desc(), Run.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(Run)
        .where(Run.id == next_id, Run.status == states.PENDING)
        .values(
            status=states.RUNNING,
            worker_id=bindparam("p_worker_id", type_=String),
            lease_expires_at=bindparam("p_lease", type_=UTCDateTime),
            attempt=Run.attempt + 1,
            fence=Run.fence + 1,
            started_at=func.coalesce(Run.started_at, now),
            updated_at=now,
            exit_code=None,
        )
    )
    return _with_event(stmt, dialect, states.PENDING)


def _transition_statement(
    dialect: str,
    from_status: str,
    names: tuple[str, ...],
    with_attempt: bool,
    with_fence: bool,
    guards: Sequence[ColumnElement[bool]] = (),
) -> Executable:
    conditions = [Run.id == bindparam("p_run_id", type_=Uuid), Run.status == from_status, *guards]
    if with_attempt:
        conditions.append(Run.attempt == bindparam("p_attempt", type_=Integer))
    if with_fence:
        conditions.append(Run.fence == bindparam("p_fence", type_=BigInteger))
    columns = Run.__table__.c
    values = {name: bindparam(f"v_{name}", type_=columns[name].type) for name in names}
    return _with_event(update(Run).where(*conditions).values(**values), dialect, from_status)


def _with_event(stmt: Update, dialect: str, from_status: str) -> Executable:
    """The CAS UPDATE, plus (PostgreSQL) its run_events row and NOTIFY in the same statement.

    On PostgreSQL all three are ONE statement (data-modifying CTEs), so the change is atomic
    on its own: callers may run it in autocommit (no BEGIN/COMMIT round trips), and a
    concurrent reader never sees a status without its event row. SQLite runs the UPDATE here
    and the INSERT after it in the caller's transaction (one writer keeps that atomic).
    """
    if dialect != "postgresql":
        return stmt.returning(Run)
    moved = stmt.returning(*Run.__table__.c).cte("moved")
    event = (
        insert(models.RunEvent)
        .from_select(
            ["run_id", "from_status", "to_status", "reason", "attempt", "worker_id", "created_at"],
            select(
                moved.c.id,
                literal(from_status, String),
                moved.c.status,
                bindparam("p_reason", type_=Text),
                moved.c.attempt,
                moved.c.worker_id,
                bindparam("p_now", type_=UTCDateTime),
            ),
        )
        .cte("event")
    )
    payload = func.json_build_object("k", "status", "r", cast(moved.c.id, Text))
    combined = select(
        moved, func.pg_notify(notify.CHANNEL, cast(payload, Text)).label("notified")
    ).add_cte(event)
    return select(Run).from_statement(combined)


async def _execute_cas(
    session: AsyncSession, stmt: Executable, params: dict[str, Any], from_status: str
) -> models.Run | None:
    """Run a compare-and-set of one run; on success its run_events row exists (and NOTIFY)."""
    options = {"synchronize_session": False, "populate_existing": True}
    result = await session.execute(stmt, params, execution_options=options)
    run: models.Run | None = result.scalars().first()
    if run is not None and _dialect(session) != "postgresql":
        await _record_event(session, run, from_status, params["p_reason"], "status")
    return run


def _terminal_fields(to: str, now: datetime) -> dict[str, Any]:
    if to in states.TERMINAL:
        return {"finished_at": now, "lease_expires_at": None}
    if to == states.PENDING:
        return {"worker_id": None, "lease_expires_at": None, "queued_at": now}
    return {}


async def transition_run(
    session: AsyncSession,
    run_id: uuid.UUID,
    to: str,
    *,
    from_: Iterable[str] | None = None,
    reason: str | None = None,
    attempt: int | None = None,
    fence: int | None = None,
    guards: Sequence[ColumnElement[bool]] = (),
    new_attempt: int | None = None,
    **fields: Any,
) -> tuple[models.Run, Notice]:
    """Compare-and-set the status of a run to `to`, recording a run_events row.

    `from_` narrows the allowed sources (default: every source the table allows); `attempt`,
    `fence` and `guards` add conditions to the compare-and-set. Zero rows -> InvalidTransition
    (LeaseLost when the fence no longer matches).
    `new_attempt` rewrites the attempt counter (a drained run hands its attempt back).
    """
    if new_attempt is not None:
        fields["attempt"] = new_attempt
    allowed = set(from_) if from_ is not None else set(states.sources_of(to))
    # Candidates in lifecycle order (running before cancel_requested): the usual source is
    # tried first, so the common case is one UPDATE and no read.
    candidates = [st for st in states.STATUSES if st in allowed and states.is_allowed(st, to)]
    for _ in range(CAS_RETRIES):
        for from_status in candidates:
            now = utcnow()
            values = {"status": to, "updated_at": now, **_terminal_fields(to, now), **fields}
            shape = (
                _dialect(session),
                from_status,
                tuple(sorted(values)),
                attempt is not None,
                fence is not None,
            )
            if guards:  # rare (the reaper): not worth caching
                stmt = _transition_statement(*shape, guards)
            else:
                stmt = _cached(("transition", *shape), partial(_transition_statement, *shape))
            names = shape[2]
            params = {f"v_{name}": values[name] for name in names}
            params.update(
                p_run_id=run_id, p_attempt=attempt, p_fence=fence, p_reason=reason, p_now=now
            )
            run = await _execute_cas(session, stmt, params, from_status)
            if run is not None:
                return run, Notice("status", str(run.id))
        # No candidate matched: explain why, or go round again if the row moved under us.
        current = await read_run(session, run_id)
        if fence is not None and current.fence != fence:
            raise errors.LeaseLost(
                f"run {run_id} is on fence {current.fence}, not {fence}", status=current.status
            )
        if current.status not in allowed or not states.is_allowed(current.status, to):
            states.check_transition(current.status, to)
            raise errors.InvalidTransition(
                f"run {run_id} is {current.status}, expected one of {sorted(allowed)}",
                status=current.status,
            )
        if attempt is not None and current.attempt != attempt:
            raise errors.InvalidTransition(
                f"run {run_id} is on attempt {current.attempt}, not {attempt}",
                status=current.status,
            )
        if guards:
            raise errors.InvalidTransition(
                f"run {run_id}: transition to {to} refused by its guard", status=current.status
            )
    raise errors.InvalidTransition(f"run {run_id} kept changing; transition to {to} refused")


async def heartbeat_run(
    session: AsyncSession, run_id: uuid.UUID, worker_id: str, fence: int, lease_s: float
) -> str | None:
    """Extend the lease; returns the run's status, or None when this worker no longer holds it.

    An expired lease is never renewed, even while no reaper has acted yet: once it expired,
    the run belongs to whoever reaps it (a worker back from a long pause must not race the
    reaper)."""
    now = utcnow()
    stmt = (
        update(Run)
        .where(
            Run.id == run_id,
            Run.worker_id == worker_id,
            Run.fence == fence,
            Run.status.in_(states.ACTIVE),
            Run.lease_expires_at >= now,
        )
        .values(lease_expires_at=now + timedelta(seconds=lease_s))
        .returning(Run.status)
    )
    status = (await session.execute(stmt)).scalar_one_or_none()
    return str(status) if status is not None else None


async def reap_expired_leases(
    session: AsyncSession, now: datetime | None = None
) -> list[tuple[models.Run, Notice]]:
    """Requeue (attempts left) or fail (worker_lost) every active run whose lease expired.

    The CAS also requires the lease to still be expired, so a heartbeat that lands between
    our select and our update wins, and two reapers never both act on one run.
    """
    now = now or utcnow()
    rows = (
        await session.execute(
            select(Run.id, Run.status, Run.attempt, Run.fence, Run.max_attempts).where(
                Run.status.in_(states.ACTIVE), Run.lease_expires_at < now
            )
        )
    ).all()
    reaped: list[tuple[models.Run, Notice]] = []
    for run_id, status, attempt, fence, max_attempts in rows:
        if status == states.CANCEL_REQUESTED:
            to, reason = states.CANCELLED, "worker_lost"
        elif attempt < max_attempts:
            to, reason = states.PENDING, "lease_expired"
        else:
            to, reason = states.FAILED, "worker_lost"
        extra: dict[str, Any] = {}
        if to == states.FAILED:
            extra["error"] = "worker_lost: the worker stopped heartbeating"
        try:
            reaped.append(
                await transition_run(
                    session,
                    run_id,
                    to,
                    from_=[status],
                    reason=reason,
                    fence=fence,
                    guards=[Run.lease_expires_at < now],
                    **extra,
                )
            )
        except errors.InvalidTransition:
            continue
    return reaped


async def request_cancel(
    session: AsyncSession, run_id: uuid.UUID, reason: str = "cancel requested"
) -> tuple[models.Run, Notice | None]:
    """pending -> cancelled; running -> cancel_requested; repeats are harmless; 409 if finished.
    `reason` goes to the run_events row (a sweep's pruner says "pruned")."""
    for _ in range(CAS_RETRIES):
        run = await read_run(session, run_id)
        if run.status == states.CANCEL_REQUESTED:
            return run, None
        if run.status in states.TERMINAL:
            if run.status == states.CANCELLED:
                return run, None
            raise errors.Conflict(
                f"run {run_id} already finished ({run.status})", status=run.status
            )
        to = states.CANCELLED if run.status == states.PENDING else states.CANCEL_REQUESTED
        try:
            return await transition_run(session, run_id, to, from_=[run.status], reason=reason)
        except errors.InvalidTransition:
            continue  # claimed or finished meanwhile: look again
    raise errors.Conflict(f"run {run_id} kept changing; try the cancel again")


async def delete_run(session: AsyncSession, run_id: uuid.UUID) -> None:
    """Delete a terminal run and its rows (the caller removes its files)."""
    run = await read_run(session, run_id)
    if run.status not in states.TERMINAL:
        raise errors.Conflict(
            f"run {run_id} is {run.status}; cancel it and wait for it to finish before deleting",
            status=run.status,
        )
    evaluation_ids = select(models.Evaluation.id).where(models.Evaluation.run_id == run_id)
    await session.execute(
        delete(models.EvaluationExample).where(
            models.EvaluationExample.evaluation_id.in_(evaluation_ids)
        )
    )
    await session.execute(
        delete(models.Evaluation).where(models.Evaluation.run_id == run_id),
        execution_options={"synchronize_session": False},
    )
    tables = (
        models.RunLogChunk,
        models.RunMetric,
        models.RunArtifact,
        models.RunEvent,
        models.RunRollout,
    )
    for table in tables:
        await session.execute(delete(table).where(table.run_id == run_id))
    deleted = await session.execute(
        delete(Run).where(Run.id == run_id, Run.status.in_(states.TERMINAL))
    )
    if getattr(deleted, "rowcount", 1) == 0:
        raise errors.Conflict(f"run {run_id} changed while deleting")
    session.expunge(run)
    await session.flush()


async def update_run_fields(
    session: AsyncSession, run_id: uuid.UUID, *, fence: int | None = None, **fields: Any
) -> None:
    """Write non-status fields (log counters, tails, last_step, eval, result) on a run row.

    With `fence`, the write is the attempt's fencing guard: it lands only while that attempt
    owns the run (else errors.LeaseLost), and it locks the row for the rest of the caller's
    transaction, so every write after it in that transaction is fenced too."""
    stmt = update(Run).where(Run.id == run_id)
    if fence is not None:
        stmt = stmt.where(Run.fence == fence, Run.status.in_(states.ACTIVE))
    result = await session.execute(
        stmt.values(**fields), execution_options={"synchronize_session": False}
    )
    if fence is not None and getattr(result, "rowcount", 1) != 1:
        raise errors.LeaseLost(f"run {run_id}: attempt with fence {fence} no longer owns it")


async def fence_attempt(session: AsyncSession, run_id: uuid.UUID, fence: int) -> None:
    """The first statement of every transaction that writes for an attempt (see above)."""
    await update_run_fields(session, run_id, fence=fence, updated_at=utcnow())


async def merge_run_result(
    session: AsyncSession, run_id: uuid.UUID, *, fence: int | None = None, **entries: Any
) -> None:
    """Merge keys into runs.result (read-modify-write: only the owning attempt writes it)."""
    if fence is not None:
        await fence_attempt(session, run_id, fence)  # lock first, then read
    current = (await session.execute(select(Run.result).where(Run.id == run_id))).scalar()
    merged = dict(current or {})
    merged.update(entries)
    await update_run_fields(session, run_id, result=merged)


async def count_runs_by_status(session: AsyncSession) -> list[tuple[str, str, int]]:
    rows = await session.execute(
        select(Run.status, Run.mode, func.count()).group_by(Run.status, Run.mode)
    )
    return [(str(s), str(m), int(n)) for s, m, n in rows.all()]


def truncate_error(text: str) -> str:
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 3] + "..."
