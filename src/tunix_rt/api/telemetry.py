"""Queue figures for /metrics, read from rows every process writes, without whole-table scans.

Standalone `tunix-rt worker` processes cannot touch this server's counters, so the queue
figures come from the database. A refresh reads only:
- the live runs (status pending, running or cancel_requested: an index range on status):
  queue_depth, active_workers, runs_by_status of the live statuses, log lines of live runs;
- the run_events added since the last refresh (a primary-key range, each joined to its run by
  primary key): lease expiries, enqueue-to-claim latencies, run durations, runs reaching a
  terminal status, and the final log-line count of runs that just finished.
Terminal counts of runs_by_status come from one grouped count when the baseline is taken
(server start) plus the terminal transitions seen since; runs deleted later stay counted
until the next start. Counters count from the baseline.

A refresh runs at most once per REFRESH_MIN_INTERVAL_S however many scrapers ask (they share
the one in flight) and within REFRESH_TIMEOUT_S. When it fails, the figures keep their last
values and db_up reads 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.api.metrics import Metrics
from tunix_rt.db import models
from tunix_rt.db.types import utcnow
from tunix_rt.runs import states

REAPED_REASONS = frozenset({"lease_expired", "worker_lost"})
LIVE_STATUSES = tuple(s for s in states.STATUSES if s not in states.TERMINAL)
REFRESH_MIN_INTERVAL_S = 2.0
REFRESH_TIMEOUT_S = 5.0
EVENT_PAGE_ROWS = 5_000
# PostgreSQL assigns an event id at insert but shows the row at commit, so a refresh can
# see id 11 before id 10. Ids skipped below the highest one seen are asked for again for
# this long; a rolled-back insert leaves a hole for good, which is dropped then.
EVENT_GAP_WAIT_S = 30.0
EVENT_GAP_MAX = 1_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _LiveRun:
    status: str
    mode: str
    worker_id: str | None
    lease_expires_at: datetime | None
    log_lines: int


@dataclass(frozen=True)
class _Event:
    id: int
    run_id: uuid.UUID
    from_status: str | None
    to_status: str
    reason: str | None
    created_at: datetime
    mode: str | None  # None: the run was deleted since
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    log_lines: int


@dataclass
class QueueTelemetry:
    sessions: async_sessionmaker[AsyncSession]
    metrics: Metrics
    min_interval_s: float = REFRESH_MIN_INTERVAL_S
    timeout_s: float = REFRESH_TIMEOUT_S
    ready: bool = False
    last_event_id: int = 0
    # Event ids skipped below last_event_id -> when first missed (time.monotonic()).
    gaps: dict[int, float] = field(default_factory=dict)
    # Log lines already counted per live run -> (lines, when last seen live).
    counted_lines: dict[uuid.UUID, tuple[int, float]] = field(default_factory=dict)
    terminal: Counter[tuple[str, str]] = field(default_factory=Counter)
    refreshed_at: float | None = None
    db_up: bool | None = None
    _inflight: asyncio.Task[None] | None = None

    async def init_baseline(self) -> None:
        """Start the counters from now: one grouped count of finished runs, the newest event."""
        async with self.sessions() as session:
            # One statement, one snapshot: finished runs and the newest event agree.
            top_event = select(func.coalesce(func.max(models.RunEvent.id), 0)).scalar_subquery()
            rows = await session.execute(
                select(models.Run.status, models.Run.mode, func.count(), top_event)
                .where(models.Run.status.in_(states.TERMINAL))
                .group_by(models.Run.status, models.Run.mode)
            )
            terminal: Counter[tuple[str, str]] = Counter()
            last_event_id = None
            for status, mode, count, top in rows.all():
                terminal[(status, mode)] = int(count)
                last_event_id = int(top)
            if last_event_id is None:
                top_row = await session.execute(select(top_event))
                last_event_id = int(top_row.scalar() or 0)
            live = await self._read_live(session)
        now = time.monotonic()
        self.terminal = terminal
        self.last_event_id = last_event_id
        self.gaps = {}
        self.counted_lines = {run_id: (run.log_lines, now) for run_id, run in live.items()}
        self.ready = True

    async def refresh(self) -> None:
        """Bring the figures up to date, unless that was done less than min_interval_s ago."""
        if self.refreshed_at is not None and time.monotonic() - self.refreshed_at < (
            self.min_interval_s
        ):
            return
        if self._inflight is None:
            self._inflight = asyncio.get_running_loop().create_task(self._refresh_guarded())
        # shield: a scraper that disconnects must not cancel the refresh others wait for.
        await asyncio.shield(self._inflight)

    async def _refresh_guarded(self) -> None:
        try:
            await asyncio.wait_for(self._refresh(), self.timeout_s)
        except Exception as exc:  # database down, timed out, connection lost mid-read
            if self.db_up is not False:
                log.warning("metrics refresh failed: %s", str(exc) or type(exc).__name__)
            self.db_up = False
        else:
            self.db_up = True
        finally:
            self.metrics.db_up.set(1 if self.db_up else 0)
            self.refreshed_at = time.monotonic()
            self._inflight = None

    async def _read_live(self, session: AsyncSession) -> dict[uuid.UUID, _LiveRun]:
        r = models.Run
        rows = await session.execute(
            select(r.id, r.status, r.mode, r.worker_id, r.lease_expires_at, r.log_lines).where(
                r.status.in_(LIVE_STATUSES)
            )
        )
        return {
            row.id: _LiveRun(
                row.status, row.mode, row.worker_id, row.lease_expires_at, row.log_lines
            )
            for row in rows.all()
        }

    async def _read_events(self, session: AsyncSession, *where: Any) -> list[_Event]:
        e, r = models.RunEvent, models.Run
        rows = await session.execute(
            select(
                e.id,
                e.run_id,
                e.from_status,
                e.to_status,
                e.reason,
                e.created_at,
                r.mode,
                r.queued_at,
                r.started_at,
                r.finished_at,
                r.log_lines,
            )
            .outerjoin(r, r.id == e.run_id)
            .where(*where)
            .order_by(e.id)
            .limit(EVENT_PAGE_ROWS)
        )
        return [_Event(*row[:10], log_lines=int(row[10] or 0)) for row in rows.all()]

    async def _refresh(self) -> None:
        if not self.ready:
            await self.init_baseline()
        # Read everything first, then apply with no await in between: a refresh cut by
        # its deadline leaves the figures and the cursors as they were.
        async with self.sessions() as session:
            # Live runs before events: a run that finishes in between shows up as live here
            # and as finished below, and its lines are counted from the live figure on.
            live = await self._read_live(session)
            events: list[_Event] = []
            if self.gaps:
                events += await self._read_events(session, models.RunEvent.id.in_(self.gaps))
            after = self.last_event_id
            while True:
                page = await self._read_events(session, models.RunEvent.id > after)
                events += page
                if len(page) < EVENT_PAGE_ROWS:
                    break
                after = page[-1].id
        self._apply(live, events)

    def _apply(self, live: dict[uuid.UUID, _LiveRun], events: list[_Event]) -> None:
        m = self.metrics
        now, wall_now = time.monotonic(), utcnow()

        lines = 0
        counted = dict(self.counted_lines)
        for run_id, run in live.items():
            lines += max(0, run.log_lines - counted.get(run_id, (0, now))[0])
            counted[run_id] = (run.log_lines, now)
        for event in events:
            if event.reason in REAPED_REASONS:
                m.lease_expiries.inc()
            claimed = event.from_status == states.PENDING and event.to_status == states.RUNNING
            if claimed and event.queued_at is not None:
                latency_s = (event.created_at - event.queued_at).total_seconds()
                m.claim_latency.observe(max(0.0, latency_s))
            if event.to_status not in states.TERMINAL or event.mode is None:
                continue
            self.terminal[(event.to_status, event.mode)] += 1
            if event.started_at is not None and event.finished_at is not None:
                duration_s = (event.finished_at - event.started_at).total_seconds()
                m.run_duration.labels(status=event.to_status).observe(max(0.0, duration_s))
            lines += max(0, event.log_lines - counted.pop(event.run_id, (0, now))[0])
        m.log_lines.inc(lines)
        # A run gone from the live set without a terminal event yet (its event may be one
        # of the gaps) keeps its counted lines for a while; a deleted one is forgotten.
        self.counted_lines = {
            run_id: (n, seen)
            for run_id, (n, seen) in counted.items()
            if run_id in live or now - seen < EVENT_GAP_WAIT_S
        }

        seen_ids = {event.id for event in events}
        top = max(seen_ids, default=self.last_event_id)
        gaps = {
            i: t for i, t in self.gaps.items() if i not in seen_ids and now - t < EVENT_GAP_WAIT_S
        }
        if top - self.last_event_id <= EVENT_GAP_MAX + len(seen_ids):
            for missing in range(self.last_event_id + 1, top):
                if missing not in seen_ids:
                    gaps.setdefault(missing, now)
        self.gaps = dict(list(gaps.items())[-EVENT_GAP_MAX:])
        self.last_event_id = max(self.last_event_id, top)

        m.runs_by_status.clear()
        for (status, mode), count in self.terminal.items():
            if count:
                m.runs_by_status.labels(status=status, mode=mode).set(count)
        by_status = Counter((run.status, run.mode) for run in live.values())
        for (status, mode), count in by_status.items():
            m.runs_by_status.labels(status=status, mode=mode).set(count)
        m.queue_depth.set(sum(1 for run in live.values() if run.status == states.PENDING))
        m.active_workers.set(
            len(
                {
                    run.worker_id
                    for run in live.values()
                    if run.status in states.ACTIVE
                    and run.worker_id is not None
                    and run.lease_expires_at is not None
                    and run.lease_expires_at > wall_now
                }
            )
        )

    async def stop(self) -> None:
        if self._inflight is not None:
            self._inflight.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._inflight
