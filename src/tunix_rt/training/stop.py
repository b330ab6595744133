"""StopSignal: a graceful stop requested by SIGTERM or by the death of the parent process.

The flag is only read between training steps (the batch iterator checks it), so a stop
always lands on a step boundary and Tunix writes a final checkpoint before returning.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

PARENT_POLL_INTERVAL_S = 1.0


class StopSignal:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def install_sigterm(self) -> None:
        def handle(signum: int, frame: FrameType | None) -> None:
            self.request("SIGTERM")

        signal.signal(signal.SIGTERM, handle)

    def watch_parent(self) -> threading.Thread:
        """Stops when the parent dies: getppid() changes when we are re-parented.

        PR_SET_PDEATHSIG (set by the worker) would kill us outright; this watcher is the
        fallback that still gets a final checkpoint written.
        """
        original = os.getppid()

        def watch() -> None:
            while not self._event.wait(PARENT_POLL_INTERVAL_S):
                if os.getppid() != original:
                    self.request("parent process exited")
                    return

        thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
        thread.start()
        return thread
