"""Heartbeat: keep a claimed run's lease alive and notice a cancel request.

Beats every heartbeat_interval_s, and at once when the hub reports a status change of the
run (a cancel from this process, or over LISTEN/NOTIFY), so a cancel lands in well under
one interval on PostgreSQL and with an embedded worker.

Renew deadline: the lease runs lease_s from the last renewal. When no renewal has landed
for RENEW_DEADLINE_FRACTION of the lease (database away, connection hung, event loop
starved), the heartbeat declares the lease lost and the attempt stops its child itself,
before any reaper can hand the run to another worker. A beat in flight is never cancelled
(a cancelled aiosqlite call can leave its connection holding the write lock): the deadline
is measured around it. The database refuses to renew an expired lease, so a beat that lands
late cannot take the run back from a reaper either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable

from tunix_rt.runs import queue, states
from tunix_rt.worker.context import WorkerContext

RENEW_DEADLINE_FRACTION = 0.75
BEAT_WAIT_ON_STOP_S = 10.0

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        ctx: WorkerContext,
        run_id: uuid.UUID,
        worker_id: str,
        fence: int,
        on_stop: Callable[[str], None],
    ) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.worker_id = worker_id
        self.fence = fence
        self.lost = False
        self._on_stop = on_stop
        self._task: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[str | None] | None = None
        self._renewed_at = 0.0
        self._released = False

    @property
    def renew_deadline_s(self) -> float:
        return self.ctx.settings.lease_s * RENEW_DEADLINE_FRACTION

    def start(self) -> None:
        # The claim itself granted a full lease just now.
        self._renewed_at = asyncio.get_running_loop().time()
        self._task = asyncio.create_task(self._beat_forever(), name=f"heartbeat-{self.run_id}")

    def still_owned(self) -> bool:
        """False once the lease is lost or past its renew deadline (callers stop retrying)."""
        if self.lost:
            return False
        elapsed = asyncio.get_running_loop().time() - self._renewed_at
        return elapsed < self.renew_deadline_s

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._beat is not None:
            # Let a beat in flight finish (never cancel a database call mid-statement); one
            # stuck on a dead connection is left to the database deadline, not waited for.
            await asyncio.wait({self._beat}, timeout=BEAT_WAIT_ON_STOP_S)
            self._beat = None

    async def beat(self) -> str | None:
        settings = self.ctx.settings
        async with self.ctx.sessions() as session:
            status = await queue.heartbeat_run(
                session, self.run_id, self.worker_id, self.fence, settings.lease_s
            )
            await session.commit()
        return status

    def release(self) -> None:
        """The attempt wrote its final status: the run moving on is expected from now."""
        self._released = True

    def _lose(self, why: str) -> None:
        if self._released:
            return
        if not self.lost:
            self.lost = True
            log.warning("run %s: lease lost (%s); stopping its child", self.run_id, why)
            self._on_stop("lease_lost")

    async def _beat_forever(self) -> None:
        interval = self.ctx.settings.heartbeat_interval_s
        hub = self.ctx.hub
        loop = asyncio.get_running_loop()
        sub_cm = hub.subscribe(self.run_id) if hub is not None else contextlib.nullcontext()
        async with sub_cm as sub:
            while True:
                next_beat = loop.time() + interval
                while sub is not None and (left := next_beat - loop.time()) > 0:
                    if await sub.wait(left) and sub.pop_kinds() & {"status", "reconnected"}:
                        break
                if sub is None:
                    await asyncio.sleep(interval)
                started = loop.time()
                if self._beat is None:
                    self._beat = asyncio.create_task(self.beat())
                    self._beat.add_done_callback(_consume_result)
                deadline = self._renewed_at + self.renew_deadline_s
                done, _ = await asyncio.wait({self._beat}, timeout=max(0.0, deadline - loop.time()))
                if not done:
                    self._lose(f"no renewal for {self.renew_deadline_s:.1f} s")
                    return
                beat, self._beat = self._beat, None
                try:
                    status = beat.result()
                except Exception as exc:
                    log.warning("heartbeat for run %s failed: %s", self.run_id, exc)
                    if not self.still_owned():
                        self._lose(f"no renewal for {self.renew_deadline_s:.1f} s")
                        return
                    continue
                if status is None:
                    self._lose("the run moved on without this attempt")
                    return
                self._renewed_at = started
                if status == states.CANCEL_REQUESTED:
                    self._on_stop("cancel")


def _consume_result(task: asyncio.Task[str | None]) -> None:
    """An abandoned beat's failure is expected (logged by the loop when it was waited for)."""
    if not task.cancelled():
        task.exception()
