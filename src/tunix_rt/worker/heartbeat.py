"""Heartbeat: keep a claimed run's lease alive and notice a cancel request.

Beats every heartbeat_interval_s, and at once when the hub reports a status change of the
run (a cancel from this process, or over LISTEN/NOTIFY), so a cancel lands in well under
one interval on PostgreSQL and with an embedded worker. A failed beat (database restart) is
retried at the next interval; the lease is several intervals long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from tunix_rt.runs import queue, states

if TYPE_CHECKING:
    from tunix_rt.worker.attempt import WorkerContext

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        ctx: WorkerContext,
        run_id: uuid.UUID,
        worker_id: str,
        attempt: int,
        on_stop: Callable[[str], None],
    ) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.worker_id = worker_id
        self.attempt = attempt
        self._on_stop = on_stop
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._idle = asyncio.Event()  # clear while a database call is in flight
        self._idle.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._beat_forever(), name=f"heartbeat-{self.run_id}")

    async def stop(self) -> None:
        if self._task is not None:
            # Cancel only between database calls: a cancelled aiosqlite call can leave its
            # connection holding the write lock. A beat in flight finishes, then we stop.
            self._stopping = True
            await self._idle.wait()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def beat(self) -> str | None:
        settings = self.ctx.settings
        async with self.ctx.sessions() as session:
            status = await queue.heartbeat_run(
                session, self.run_id, self.worker_id, self.attempt, settings.lease_s
            )
            await session.commit()
        return status

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
                if self._stopping:
                    return
                self._idle.clear()
                try:
                    status = await self.beat()
                except Exception as exc:
                    log.warning("heartbeat for run %s failed: %s", self.run_id, exc)
                    continue
                finally:
                    self._idle.set()
                if status is None:
                    self._on_stop("lease_lost")
                    return
                if status == states.CANCEL_REQUESTED:
                    self._on_stop("cancel")
