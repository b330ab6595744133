"""One attempt at one claimed run: materialise, spawn the child, stream it, finish the row.

Stop reasons and the status each ends in:
- the child exits on its own: 0 -> completed, else failed (a cancel that loses this race
  still ends completed/failed: the table allows it from cancel_requested);
- "cancel" (heartbeat saw cancel_requested) -> cancelled;  "timeout" -> timeout;
- "drain" (the worker is shutting down) -> pending, the attempt not counted;
- "artifact_store_error" (a write to the run's directory failed: a full disk) -> failed at
  once with that reason, no retry (another attempt would hit the same disk);
- "lease_lost" (a write or a heartbeat was refused, or the lease could not be renewed before
  its renew deadline) -> the child is killed at once and the row is not touched: it is not
  ours. The reaper hands the run to a new attempt, which starts from the last committed
  checkpoint.

Ordering: the heartbeat keeps the lease until the very end; the final status is written only
after every log line of the attempt is stored, so a reader that sees the terminal status (and
the SSE `end` event) has seen every line.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.evaluations import jobs as eval_jobs
from tunix_rt.runs import artifacts, exports, materialize, queue, retention, states
from tunix_rt.runs.logs import LogWriter
from tunix_rt.runs.notify import Notice
from tunix_rt.worker import process
from tunix_rt.worker.context import WorkerContext
from tunix_rt.worker.events import EventHandler
from tunix_rt.worker.heartbeat import Heartbeat

__all__ = ["RunAttempt", "WorkerContext", "describe_failure"]

PIPE_DRAIN_S = 5.0
FINISH_RETRY_DELAY_S = 1.0
STDERR_LINES_IN_ERROR = 10
# Raw streams the worker tails; logs/output.log (written by the LogWriter) keeps them both.
STDOUT_PATH = "logs/stdout.log"
STDERR_PATH = "logs/stderr.log"
OUTPUT_LOG_PATH = "logs/output.log"
STORE_ERROR = "artifact_store_error"
# Below this many free bytes on the artifact volume, a failed child is blamed on the disk.
DISK_FULL_BYTES = 64 * 1024
NO_SPACE = os.strerror(errno.ENOSPC)

T = TypeVar("T")

log = logging.getLogger(__name__)


class RunAttempt:
    def __init__(self, ctx: WorkerContext, run: models.Run, worker_id: str) -> None:
        self.ctx = ctx
        self.run = run
        self.run_id = run.id
        self.attempt = run.attempt
        self.fence = run.fence
        self.worker_id = worker_id
        self.stop_reason: str | None = None
        self.store_error: str | None = None
        self._stop = asyncio.Event()
        self.run_dir = materialize.run_dir_of(ctx.settings, run.id)
        self.attempt_rel = artifacts.attempt_dir_of(run.fence)
        self.attempt_dir = self.run_dir / self.attempt_rel
        self.heartbeat = Heartbeat(ctx, run.id, worker_id, run.fence, self.request_stop)

    def request_stop(self, reason: str) -> None:
        """Ask the attempt to end its child; the first reason wins, except that losing the
        lease overrides everything (the row is no longer ours to write)."""
        if self.stop_reason is None or reason == "lease_lost":
            self.stop_reason = reason
        self._stop.set()

    @property
    def lease_lost(self) -> bool:
        return self.stop_reason == "lease_lost"

    def _fenced(self) -> None:
        """A write for this attempt was refused: count it and stop the child now."""
        self.ctx.fenced_writes += 1
        if self.ctx.on_fenced is not None:
            self.ctx.on_fenced()
        self.request_stop("lease_lost")

    def _store_failed(self, exc: OSError) -> None:
        if self.store_error is None:
            self.store_error = f"{STORE_ERROR}: {exc.strerror or exc}"
        self.request_stop(STORE_ERROR)

    async def execute(self) -> None:
        self.heartbeat.start()
        try:
            await self._execute()
        except Exception as exc:
            # Whatever broke, the run must not stay `running` until its lease runs out and
            # then be retried: fail it (fenced: only while it is still ours).
            log.exception("run %s: attempt crashed", self.run_id)
            if not self.lease_lost:
                await self._finish(
                    states.FAILED, reason="worker_error", error=f"worker error: {exc!r}"
                )
        finally:
            await self.heartbeat.stop()

    async def _execute(self) -> None:
        settings = self.ctx.settings
        try:
            spec_path = await self._while_owned(self._materialize)
        except OSError as exc:
            self._store_failed(exc)
            await self._finish(states.FAILED, reason=STORE_ERROR, error=self.store_error)
            return
        except errors.TunixRtError as exc:
            await self._finish(
                states.FAILED, reason="materialize", error=f"cannot start: {exc.message}"
            )
            return
        writer = LogWriter(
            self.ctx.sessions,
            self.ctx.hub,
            self.run_id,
            self.attempt_dir / OUTPUT_LOG_PATH,
            cap_bytes=settings.log_db_cap_bytes,
            flush_lines=settings.log_flush_lines,
            flush_ms=settings.log_flush_interval_ms,
            tail_lines=settings.log_tail_lines,
            fence=self.fence,
            file_cap_bytes=settings.log_file_cap_bytes,
            on_lease_lost=self._fenced,
            on_store_error=self._store_failed,
        )
        await self._while_owned(writer.open)
        handler = EventHandler(
            self.ctx.sessions,
            self.ctx.hub,
            self.run_id,
            self.run_dir,
            fence=self.fence,
            attempt_rel=self.attempt_rel,
            on_lease_lost=self._fenced,
        )
        argv = [*settings.worker_command, str(spec_path)]
        try:
            child = await process.spawn_child(
                argv,
                self.attempt_dir,
                materialize.child_env(settings),
                self.attempt_dir / STDOUT_PATH,
                self.attempt_dir / STDERR_PATH,
            )
        except OSError as exc:
            writer.feed("stderr", f"cannot start {argv[0]}: {exc}\n".encode())
            await writer.close(self.heartbeat.still_owned)
            if not self.lease_lost:
                await self._finish(states.FAILED, reason="spawn", error=f"cannot start: {exc}")
            return
        exit_code, stopped_first = await self._supervise(child, writer, handler)
        stored = await writer.close(self.heartbeat.still_owned)
        if self.lease_lost or not stored:
            log.warning(
                "run %s: attempt %s lost the run (%s); leaving the row to its new owner",
                self.run_id,
                self.fence,
                "fenced" if self.lease_lost else "logs not stored before the renew deadline",
            )
            return
        if writer.store_error is None:
            for raw in (STDOUT_PATH, STDERR_PATH):  # output.log holds both streams now
                (self.attempt_dir / raw).unlink(missing_ok=True)
        if not await self._register_outputs():
            return
        if not await self._prune_checkpoints():
            return
        if (
            not stopped_first
            and exit_code != 0
            and self.store_error is None
            and _disk_full(self.attempt_dir, handler.last_error, writer.stderr_tail)
        ):
            self.store_error = f"{STORE_ERROR}: {NO_SPACE}"
        await self._conclude(exit_code, stopped_first, writer, handler)

    async def _supervise(
        self, child: process.Child, writer: LogWriter, handler: EventHandler
    ) -> tuple[int, bool]:
        """Stream the child until it exits or a stop is requested; returns (exit code,
        whether our stop came before the child's own exit)."""
        exited = asyncio.Event()
        run_dir = self.attempt_dir
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
            # A child that lost its run gets no grace: its checkpoints would not count.
            grace = 0.0 if self.lease_lost else self.ctx.settings.cancel_grace_s
            await process.terminate_child(child, grace)
        stopper.cancel()
        exit_code = await waiter
        # Leftover grandchildren may still hold the events pipe open: end the whole group.
        process.signal_group(child.pgid, signal.SIGKILL)
        exited.set()
        # The tails read the files to their end (no line may be lost, however far behind the
        # database is) for as long as the run is ours; only the events pipe gets a deadline.
        tails = set(pumps[:2])
        while tails:
            _, tails = await asyncio.wait(tails, timeout=FINISH_RETRY_DELAY_S)
            if tails and not self.heartbeat.still_owned():
                for task in tails:
                    task.cancel()  # file reads, not database calls: safe to cancel
                break
        _, hanging = await asyncio.wait(pumps[2:], timeout=PIPE_DRAIN_S)
        for task in hanging:
            task.cancel()
        for task in pumps:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return exit_code, stopped_first

    async def _materialize(self) -> Path:
        async with self.ctx.sessions() as session:
            if self.run.kind == eval_jobs.KIND_EVAL:
                return await eval_jobs.materialize_eval_job(session, self.run, self.ctx.settings)
            if self.run.kind == exports.KIND_EXPORT:
                return await exports.materialize_export_job(session, self.run, self.ctx.settings)
            return await materialize.materialize_run(session, self.run, self.ctx.settings)

    async def _while_owned(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run a database step, retrying a transient failure (a killed connection, a
        deadline) while the lease can still be ours; domain and file errors pass through."""
        while True:
            try:
                return await step()
            except errors.Unavailable as exc:
                failure: Exception = exc
            except (errors.TunixRtError, OSError):
                raise
            except Exception as exc:
                failure = exc
            if not self.heartbeat.still_owned():
                raise failure
            log.warning("run %s: %s failed, retrying: %s", self.run_id, step.__name__, failure)
            await asyncio.sleep(FINISH_RETRY_DELAY_S)

    async def _register_outputs(self) -> bool:
        """Register the attempt's files (fenced); False when the attempt lost the run."""
        try:
            await self._while_owned(self._register)
        except errors.LeaseLost:
            self._fenced()
            return False
        except OSError as exc:  # reading the attempt directory failed: finish without them
            log.warning("run %s: registering artifacts failed: %s", self.run_id, exc)
        except Exception:
            return False  # the database stayed away past the renew deadline
        return True

    async def _register(self) -> None:
        async with self.ctx.sessions() as session:
            await queue.fence_attempt(session, self.run_id, self.fence)
            await artifacts.register_run_outputs(
                session, self.run_id, self.run_dir, self.attempt_rel
            )
            stale = None
            if self.run.kind == exports.KIND_EXPORT:  # the source run's export/<format>
                stale = await exports.register_export(
                    session, self.run, self.ctx.settings, self.attempt_dir
                )
            await session.commit()
        await asyncio.to_thread(exports.remove_stale, stale)

    async def _prune_checkpoints(self) -> bool:
        """Retention at the end of the attempt (the last checkpoints were registered just
        now): rows in a fenced transaction, then the files. Never fails the run; False when
        the attempt lost the run."""
        try:
            plan = await self._while_owned(self._prune_rows)
        except errors.LeaseLost:
            self._fenced()
            return False
        except Exception as exc:
            log.warning("run %s: checkpoint retention failed: %s", self.run_id, exc)
            return True
        await asyncio.to_thread(retention.remove_pruned, self.run_dir, plan, self.fence)
        return True

    async def _prune_rows(self) -> retention.PrunePlan:
        async with self.ctx.sessions() as session:
            await queue.fence_attempt(session, self.run_id, self.fence)
            plan, _ = await retention.prune(
                session, self.run_id, retention.policy_of(self.run.request or {})
            )
            await session.commit()
        return plan

    async def _conclude(
        self, exit_code: int, stopped_first: bool, writer: LogWriter, handler: EventHandler
    ) -> None:
        reason = self.stop_reason if stopped_first else None
        if self.store_error is not None and reason not in ("cancel", "drain"):
            await self._finish(
                states.FAILED, reason=STORE_ERROR, exit_code=exit_code, error=self.store_error
            )
        elif reason == "drain":
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
        """Write the final status (fenced), retrying through a database outage while the
        lease can still be ours. A cancel that raced a timeout or a drain turns the end
        into `cancelled`."""
        if "error" in fields and fields["error"] is not None:
            fields["error"] = queue.truncate_error(fields["error"])
        if attempt_delta:
            fields["new_attempt"] = self.attempt + attempt_delta
        while True:
            try:
                notice = await self._transition(to, reason, fields)
                break
            except errors.LeaseLost as exc:
                log.warning("run %s: final transition to %s fenced off: %s", self.run_id, to, exc)
                return
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
                if not self.heartbeat.still_owned():
                    log.error("run %s: cannot record the end (%s): %s", self.run_id, to, exc)
                    return
                await asyncio.sleep(FINISH_RETRY_DELAY_S)
        self.heartbeat.release()
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
                fence=self.fence,
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


def _disk_full(directory: Path, message: str | None, stderr_tail: list[str]) -> bool:
    """Did a failed child fail because the artifact volume is full?"""
    if any(NO_SPACE in text for text in [message or "", *stderr_tail]):
        return True
    try:
        stat = os.statvfs(directory)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < DISK_FULL_BYTES
