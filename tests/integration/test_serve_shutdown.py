"""`tunix-rt serve` stops promptly on SIGTERM even while SSE clients follow unfinished runs,
and those streams close without a false `end` (the client resumes by seq later)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx

from tests.integration.cli_server import make_dataset, start_server

# uvicorn's graceful-shutdown backstop is 3 s: closing the streams must beat it clearly.
PROMPT_EXIT_S = 2.0


def test_sigterm_closes_open_log_streams_at_once(database_url: str, tmp_path: Path) -> None:
    server = start_server(database_url, tmp_path / "home", "--workers", "0")
    try:
        key = make_dataset(server.url, "shutdown")
        run = httpx.post(
            f"{server.url}/api/tunix/run", params={"mode": "async"}, json={"dataset_key": key}
        ).json()
        received: list[str] = []
        closed_at: list[float] = []

        def follow() -> None:
            url = f"{server.url}/api/tunix/runs/{run['run_id']}/logs"
            with httpx.stream("GET", url, timeout=30) as response:
                for line in response.iter_lines():
                    received.append(line)
            closed_at.append(time.monotonic())

        readers = [threading.Thread(target=follow) for _ in range(3)]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 10
        while not any(line.startswith("event: status") for line in received):
            assert time.monotonic() < deadline, received
            time.sleep(0.05)

        assert server.proc is not None
        began = time.monotonic()
        server.proc.terminate()
        server.proc.wait(10)
        exited_in = time.monotonic() - began
        for reader in readers:
            reader.join(10)
        assert exited_in < PROMPT_EXIT_S, (exited_in, server.output())
        assert len(closed_at) == 3
        assert all(t - began < PROMPT_EXIT_S for t in closed_at)
        assert "event: end" not in received  # the run is still pending: no false end
        # uvicorn re-raises the captured signal once it has shut down cleanly.
        assert server.proc.returncode in (0, -signal.SIGTERM), server.output()
    finally:
        server.stop()
