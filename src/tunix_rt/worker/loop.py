"""Worker: claim a run, execute it, repeat; drain on stop.

Waking up: the worker subscribes to the hub and claims when an "enqueued" (or "reconnected")
notice arrives. The hub is fed locally by the API in the same process and, on PostgreSQL,
by LISTEN/NOTIFY; every poll_interval_s it also tries a claim, so a lost notice costs at
most one interval (SQLite standalone workers rely on that poll alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from tunix_rt.runs import queue
from tunix_rt.runs.notify import Subscription
from tunix_rt.worker.attempt import RunAttempt
from tunix_rt.worker.context import WorkerContext

WAKE_KINDS = frozenset({"enqueued", "reconnected"})
ERROR_BACKOFF_S = 1.0

log = logging.getLogger(__name__)


def make_worker_id(index: int = 0) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{index}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, ctx: WorkerContext, *, worker_id: str | None = None) -> None:
        self.ctx = ctx
        self.worker_id = worker_id or make_worker_id()
        self.current: RunAttempt | None = None
        self.runs_done = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run_forever(), name=f"worker-{self.worker_id}")

    async def run_forever(self) -> None:
        hub = self.ctx.hub
        sub_cm = hub.subscribe(None) if hub is not None else contextlib.nullcontext()
        async with sub_cm as sub:
            while not self._stopping.is_set():
                try:
                    claimed = await self._claim()
                except Exception as exc:  # database unavailable: back off and retry
                    log.warning("worker %s: claim failed: %s", self.worker_id, exc)
                    await self._sleep(ERROR_BACKOFF_S)
                    continue
                if claimed is None:
                    await self._wait_for_work(sub)
                    continue
                try:
                    await claimed.execute()
                except Exception:
                    log.exception("worker %s: run %s crashed", self.worker_id, claimed.run_id)
                finally:
                    self.current = None
                    self.runs_done += 1

    async def _claim(self) -> RunAttempt | None:
        if self._stopping.is_set():
            return None
        async with self.ctx.statement_sessions() as session:
            claim = await queue.claim_next_run(session, self.worker_id, self.ctx.settings.lease_s)
            await session.commit()
        if claim is None:
            return None
        self.current = RunAttempt(self.ctx, claim.run, self.worker_id)
        return self.current

    async def _wait_for_work(self, sub: Subscription | None) -> None:
        poll = self.ctx.settings.poll_interval_s
        if sub is None:
            await self._sleep(poll)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + poll
        while not self._stopping.is_set() and (left := deadline - loop.time()) > 0:
            # Log and metric notices of other runs wake us too; only new work ends the wait.
            if await sub.wait(min(left, 0.5)) and sub.pop_kinds() & WAKE_KINDS:
                return

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def stop(self, drain_timeout_s: float | None = None) -> None:
        """Stop claiming; let the current run finish for up to drain_timeout_s, then hand it
        back as pending (attempt not counted)."""
        self._stopping.set()
        task = self._task
        if task is None:
            return
        # Two stops may overlap (a second Ctrl-C): each works on the same task object.
        timeout = self.ctx.settings.drain_timeout_s if drain_timeout_s is None else drain_timeout_s
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            current = self.current
            if current is not None:
                current.request_stop("drain")
            await asyncio.wait({task}, timeout=self.ctx.settings.cancel_grace_s + 30)
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        self._task = None
