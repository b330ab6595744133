"""One attempt at one claimed run: materialise, spawn the child, stream it, finish the row.

Stop reasons and the status each ends in:
- the child exits on its own: 0 -> completed, else failed (a cancel that loses this race
  still ends completed/failed: the table allows it from cancel_requested);
- "cancel" (heartbeat saw cancel_requested) -> cancelled;  "timeout" -> timeout;
- "drain" (the worker is shutting down) -> pending, the attempt not counted;
- "lease_lost" (the reaper took the run away) -> the row is not touched: it is not ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt import errors
from tunix_rt.db import engine as db_engine
from tunix_rt.db import models
from tunix_rt.runs import artifacts, materialize, queue, states
from tunix_rt.runs.logs import LogWriter
from tunix_rt.runs.notify import Hub, Notice
from tunix_rt.settings import Settings
from tunix_rt.worker import process
from tunix_rt.worker.events import EventHandler
from tunix_rt.worker.heartbeat import Heartbeat

PIPE_DRAIN_S = 5.0
FINISH_RETRY_FOR_S = 120.0
FINISH_RETRY_DELAY_S = 1.0
STDERR_LINES_IN_ERROR = 10
# Raw streams the worker tails; logs/output.log (written by the LogWriter) keeps them both.
STDOUT_PATH = "logs/stdout.log"
STDERR_PATH = "logs/stderr.log"

log = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    hub: Hub | None
    # Claims and status transitions are single statements on PostgreSQL: autocommit there.
    statement_sessions: async_sessionmaker[AsyncSession] = field(init=False)

    def __post_init__(self) -> None:
        self.statement_sessions = db_engine.create_statement_session_factory(self.sessions)


class RunAttempt:
    def __init__(self, ctx: WorkerContext, run: models.Run, worker_id: str) -> None:
        self.ctx = ctx
        self.run = run
        self.run_id = run.id
        self.attempt = run.attempt
        self.worker_id = worker_id
        self.stop_reason: str | None = None
        self._stop = asyncio.Event()

    def request_stop(self, reason: str) -> None:
        """Ask the attempt to end its child; the first reason wins."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()

    async def execute(self) -> None:
        settings = self.ctx.settings
        run_dir = materialize.run_dir_of(settings, self.run_id)
        try:
            async with self.ctx.sessions() as session:
                spec_path = await materialize.materialize_run(session, self.run, settings)
        except (errors.TunixRtError, OSError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            await self._finish(
                states.FAILED, reason="materialize", error=f"cannot start: {message}"
            )
            return
        writer = LogWriter(
            self.ctx.sessions,
            self.ctx.hub,
            self.run_id,
            run_dir / "logs" / "output.log",
            cap_bytes=settings.log_db_cap_bytes,
            flush_lines=settings.log_flush_lines,
            flush_ms=settings.log_flush_interval_ms,
            tail_lines=settings.log_tail_lines,
        )
        await writer.open()
        handler = EventHandler(self.ctx.sessions, self.ctx.hub, self.run_id, run_dir)
        heartbeat = Heartbeat(
            self.ctx, self.run_id, self.worker_id, self.attempt, self.request_stop
        )
        heartbeat.start()
        exit_code: int | None = None
        try:
            argv = [*settings.worker_command, str(spec_path)]
            try:
                child = await process.spawn_child(
                    argv, run_dir, {}, run_dir / STDOUT_PATH, run_dir / STDERR_PATH
                )
            except OSError as exc:
                writer.feed("stderr", f"cannot start {argv[0]}: {exc}\n".encode())
                await writer.close()
                await self._finish(states.FAILED, reason="spawn", error=f"cannot start: {exc}")
                return
            exit_code, stopped_first = await self._supervise(child, writer, handler)
        finally:
            await heartbeat.stop()
        await writer.close()
        for raw in (STDOUT_PATH, STDERR_PATH):  # output.log holds both streams now
            (run_dir / raw).unlink(missing_ok=True)
        await self._register_outputs(run_dir)
        await self._conclude(exit_code, stopped_first, writer, handler)

    async def _supervise(
        self, child: process.Child, writer: LogWriter, handler: EventHandler
    ) -> tuple[int, bool]:
        """Stream the child until it exits or a stop is requested; returns (exit code,
        whether our stop came before the child's own exit)."""
        exited = asyncio.Event()
        run_dir = materialize.run_dir_of(self.ctx.settings, self.run_id)
        interval = self.ctx.settings.log_flush_interval_ms / 1000
        pumps = [
            asyncio.create_task(
                process.tail_file(
                    run_dir / STDOUT_PATH,
                    lambda b: writer.feed("stdout", b),
                    exited,
                    interval,
                    writer.wait_for_room,
                )
            ),
            asyncio.create_task(
                process.tail_file(
                    run_dir / STDERR_PATH,
                    lambda b: writer.feed("stderr", b),
                    exited,
                    interval,
                    writer.wait_for_room,
                )
            ),
            asyncio.create_task(process.pump_lines(child.events, handler.handle_line)),
        ]
        waiter = asyncio.create_task(child.proc.wait())
        stopper = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait(
            {waiter, stopper}, timeout=self.run.timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        stopped_first = waiter not in done
        if stopped_first:
            if not done:
                self.request_stop("timeout")
            log.info("run %s: stopping child (%s)", self.run_id, self.stop_reason)
            await process.terminate_child(child, self.ctx.settings.cancel_grace_s)
        stopper.cancel()
        exit_code = await waiter
        # Leftover grandchildren may still hold the events pipe open: end the whole group.
        process.signal_group(child.pgid, signal.SIGKILL)
        exited.set()
        # The tails read the files to their end (no line may be lost, however far behind the
        # database is); only the events pipe gets a deadline.
        await asyncio.wait(pumps[:2])
        _, hanging = await asyncio.wait(pumps[2:], timeout=PIPE_DRAIN_S)
        for task in hanging:
            task.cancel()
        for task in pumps:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return exit_code, stopped_first

    async def _register_outputs(self, run_dir: Any) -> None:
        try:
            async with self.ctx.sessions() as session:
                await artifacts.register_run_outputs(session, self.run_id, run_dir)
                await session.commit()
        except Exception as exc:
            log.warning("run %s: registering artifacts failed: %s", self.run_id, exc)

    async def _conclude(
        self, exit_code: int, stopped_first: bool, writer: LogWriter, handler: EventHandler
    ) -> None:
        reason = self.stop_reason if stopped_first else None
        if reason == "lease_lost":
            log.warning("run %s: lease lost; leaving the row to its new owner", self.run_id)
            return
        if reason == "drain":
            await self._finish(
                states.PENDING, reason="worker_drain", attempt_delta=-1, exit_code=exit_code
            )
        elif reason == "cancel":
            await self._finish(states.CANCELLED, reason="cancelled", exit_code=exit_code)
        elif reason == "timeout":
            await self._finish(
                states.TIMEOUT,
                reason="timeout",
                exit_code=exit_code,
                error=f"timed out after {self.run.timeout_s} s",
            )
        elif exit_code == 0:
            await self._finish(states.COMPLETED, reason="exit 0", exit_code=0)
        else:
            await self._finish(
                states.FAILED,
                reason=f"exit {exit_code}",
                exit_code=exit_code,
                error=describe_failure(exit_code, handler.last_error, writer.stderr_tail),
            )

    async def _finish(self, to: str, *, reason: str, attempt_delta: int = 0, **fields: Any) -> None:
        """Write the final status, retrying through a database outage. A cancel that raced
        a timeout or a drain turns the end into `cancelled`."""
        if "error" in fields and fields["error"] is not None:
            fields["error"] = queue.truncate_error(fields["error"])
        if attempt_delta:
            fields["new_attempt"] = self.attempt + attempt_delta
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FINISH_RETRY_FOR_S
        while True:
            try:
                notice = await self._transition(to, reason, fields)
                break
            except errors.InvalidTransition as exc:
                if exc.details.get("status") == states.CANCEL_REQUESTED and to in (
                    states.TIMEOUT,
                    states.PENDING,
                ):
                    to, reason = states.CANCELLED, "cancelled"
                    fields.pop("new_attempt", None)
                    continue
                log.warning("run %s: final transition to %s refused: %s", self.run_id, to, exc)
                return
            except Exception as exc:
                if loop.time() > deadline:
                    log.error("run %s: cannot record the end (%s): %s", self.run_id, to, exc)
                    return
                await asyncio.sleep(FINISH_RETRY_DELAY_S)
        if self.ctx.hub is not None:
            self.ctx.hub.publish_local(notice)

    async def _transition(self, to: str, reason: str, fields: dict[str, Any]) -> Notice:
        async with self.ctx.statement_sessions() as session:
            _, notice = await queue.transition_run(
                session,
                self.run_id,
                to,
                from_=states.ACTIVE,
                reason=reason,
                attempt=self.attempt,
                **fields,
            )
            await session.commit()
        return notice


def describe_failure(exit_code: int, message: str | None, stderr_tail: list[str]) -> str:
    if exit_code < 0:
        head = f"killed by signal {-exit_code}"
    elif exit_code == 2:
        head = "invalid spec or dataset (exit 2)"
    elif exit_code == 3:
        head = "training stack not installed (exit 3)"
    else:
        head = f"exit code {exit_code}"
    if message:
        head += f": {message}"
    tail = "\n".join(stderr_tail[-STDERR_LINES_IN_ERROR:])
    return f"{head}\n{tail}" if tail else head
