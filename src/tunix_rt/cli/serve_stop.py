"""How `tunix-rt serve` stops on Ctrl-C / SIGTERM: drain the embedded workers, then the API.

1st signal: the workers stop claiming and a running run gets `settings.drain_timeout_s` to
   finish; then its child is stopped (final checkpoint) and the run goes back to the queue
   with its attempt not counted. The API keeps answering meanwhile, so the UI and
   `runs logs -f` follow the run to its hand-back instead of freezing at a stale step.
2nd signal: the running runs are stopped at once (same checkpoint and hand-back).
3rd signal: uvicorn's forced exit.

Then uvicorn closes the connections (open log streams are woken so they end at once;
clients resume by seq) and runs the app's shutdown, which finds the workers stopped.
A clean stop exits 0: the signal is not re-raised the way uvicorn does, so `make run`
does not end with "Error 130".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn

from tunix_rt.cli.output import console
from tunix_rt.settings import Settings

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SHORT_ID_DIGITS = 8

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, settings: Settings) -> None:
        super().__init__(config)
        self.settings = settings
        self._signals = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's, minus re-raising the signal after a clean shutdown."""
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A Python signal handler: it runs between bytecodes of the loop's thread, so the
        # work is handed to the loop rather than done here.
        self._signals += 1
        loop = self._loop
        if loop is None or not self.started or self._signals >= 3:
            # Still starting: stop once started (forced if asked again). Third time: quit
            # without the app's shutdown; runs left running are reaped by lease expiry and
            # children stop on their parent's death.
            self.force_exit = self.should_exit or self._signals >= 3
            self.should_exit = True
            if loop is not None:
                loop.call_soon_threadsafe(self._wake_streams)
            return
        if self._signals == 1:
            loop.call_soon_threadsafe(self._begin_drain)
        else:
            loop.call_soon_threadsafe(self._stop_runs_now)

    def _context(self) -> Any:
        return getattr(getattr(self.config.app, "state", None), "ctx", None)

    def _workers(self) -> list[Any]:
        from tunix_rt.worker.loop import Worker

        ctx = self._context()
        return [s for s in (ctx.services if ctx else []) if isinstance(s, Worker)]

    def _active_runs(self) -> list[str]:
        return [
            str(w.current.run_id)[:SHORT_ID_DIGITS]
            for w in self._workers()
            if w.current is not None
        ]

    def _begin_drain(self) -> None:
        runs = self._active_runs()
        if runs:
            grace = self.settings.drain_timeout_s
            console.print(
                f"stopping: waiting up to {grace:g} s for run {', '.join(runs)} to finish, then "
                "it is checkpointed and queued again (it resumes on the next start); "
                "Ctrl-C again to do that now",
                highlight=False,
                soft_wrap=True,
            )
        else:
            console.print("stopping", highlight=False)
        self._drain = asyncio.create_task(self._drain_workers(), name="serve-drain")

    async def _drain_workers(self) -> None:
        try:
            await asyncio.gather(*(w.stop() for w in self._workers()))
        except Exception:
            log.exception("draining the embedded workers failed")
        finally:
            self._wake_streams()
            self.should_exit = True

    def _stop_runs_now(self) -> None:
        runs = self._active_runs()
        if not runs:
            return
        console.print(
            f"stopping now: run {', '.join(runs)} is writing a checkpoint (up to "
            f"{self.settings.cancel_grace_s:g} s) and goes back to the queue; "
            "Ctrl-C again to quit without waiting",
            highlight=False,
            soft_wrap=True,
        )
        for worker in self._workers():
            if worker.current is not None:
                worker.current.request_stop("drain")

    def _wake_streams(self) -> None:
        """Open log streams never end by themselves: tell them the server is stopping."""
        from tunix_rt.api import sse

        ctx = self._context()
        if ctx is not None:
            ctx.hub.wake_all(sse.STOPPING)
