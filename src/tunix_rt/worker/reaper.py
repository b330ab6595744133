"""Reaper: every reaper_interval_s, hand back or fail runs whose lease expired.

Runs in every worker process and in the server; the compare-and-set in
queue.reap_expired_leases makes concurrent reapers safe (one wins per run).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tunix_rt.runs import queue
from tunix_rt.worker.context import WorkerContext

log = logging.getLogger(__name__)


class Reaper:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.reaped = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._reap_forever(), name="reaper")

    async def reap_once(self) -> int:
        async with self.ctx.sessions() as session:
            reaped = await queue.reap_expired_leases(session)
            await session.commit()
        for run, notice in reaped:
            log.warning("run %s: lease expired, now %s", run.id, run.status)
            if self.ctx.hub is not None:
                self.ctx.hub.publish_local(notice)
                if run.status == "pending":
                    self.ctx.hub.publish_local(notice.__class__("enqueued", notice.run_id))
        self.reaped += len(reaped)
        return len(reaped)

    async def _reap_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.reap_once()
            except Exception as exc:
                log.warning("reaper pass failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.ctx.settings.reaper_interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            # Let a pass in flight finish rather than cancel it mid-statement.
            self._stopping.set()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
