"""Queue metrics for /metrics, derived from the database at scrape time.

Standalone `tunix-rt worker` processes cannot touch the server's in-memory counters, so
every queue figure comes from rows all processes write, whoever ran the run:
- gauges runs_by_status{status,mode}, queue_depth (pending), active_workers (distinct
  worker_id holding an unexpired lease) are set from current counts;
- counters log_lines_ingested (sum of runs.log_lines) and lease_expiries (run_events with
  reason lease_expired/worker_lost) grow by the increase since the last scrape;
- histograms run_duration (runs finished since the last scrape) and enqueue_to_claim
  (claims since the last scrape: claim event time minus runs.queued_at) observe new rows.
The baseline is taken when the server starts, so counters count from then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.api.context import AppContext
from tunix_rt.db import models
from tunix_rt.db.types import utcnow
from tunix_rt.runs import queue, states

REAPED_REASONS = ("lease_expired", "worker_lost")


@dataclass
class QueueTelemetry:
    since: datetime = field(default_factory=utcnow)
    last_event_id: int | None = None
    log_lines: int | None = None
    lease_expiries: int | None = None

    async def _totals(self, session: AsyncSession) -> tuple[int, int, int]:
        lines = (
            await session.execute(select(func.coalesce(func.sum(models.Run.log_lines), 0)))
        ).scalar()
        expiries = (
            await session.execute(
                select(func.count()).where(models.RunEvent.reason.in_(REAPED_REASONS))
            )
        ).scalar()
        top_event = (await session.execute(select(func.max(models.RunEvent.id)))).scalar()
        return int(lines or 0), int(expiries or 0), int(top_event or 0)

    async def init_baseline(self, ctx: AppContext) -> None:
        async with ctx.sessions() as session:
            self.log_lines, self.lease_expiries, self.last_event_id = await self._totals(session)

    async def refresh(self, ctx: AppContext) -> None:
        m = ctx.metrics
        now = utcnow()
        async with ctx.sessions() as session:
            m.runs_by_status.clear()
            depth = 0
            for status, mode, count in await queue.count_runs_by_status(session):
                m.runs_by_status.labels(status=status, mode=mode).set(count)
                if status == states.PENDING:
                    depth += count
            m.queue_depth.set(depth)
            workers = (
                await session.execute(
                    select(func.count(func.distinct(models.Run.worker_id))).where(
                        models.Run.status.in_(states.ACTIVE), models.Run.lease_expires_at > now
                    )
                )
            ).scalar()
            m.active_workers.set(int(workers or 0))
            lines, expiries, top_event = await self._totals(session)
            m.log_lines.inc(max(0, lines - (self.log_lines or 0)))
            m.lease_expiries.inc(max(0, expiries - (self.lease_expiries or 0)))
            self.log_lines, self.lease_expiries = lines, expiries
            finished = await session.execute(
                select(models.Run.status, models.Run.started_at, models.Run.finished_at).where(
                    models.Run.finished_at > self.since, models.Run.finished_at <= now
                )
            )
            for status, started, ended in finished.all():
                if started is not None and ended is not None:
                    m.run_duration.labels(status=status).observe(
                        max(0.0, (ended - started).total_seconds())
                    )
            claims = await session.execute(
                select(models.RunEvent.created_at, models.Run.queued_at)
                .join(models.Run, models.Run.id == models.RunEvent.run_id)
                .where(
                    models.RunEvent.to_status == states.RUNNING,
                    models.RunEvent.from_status == states.PENDING,
                    models.RunEvent.id > (self.last_event_id or 0),
                    models.RunEvent.id <= top_event,
                )
            )
            for claimed_at, queued_at in claims.all():
                m.claim_latency.observe(max(0.0, (claimed_at - queued_at).total_seconds()))
            self.last_event_id = top_event
        self.since = now
