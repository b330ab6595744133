"""`tunix-rt serve` stops promptly on SIGTERM even while SSE clients follow unfinished runs,
and those streams close without a false `end` (the client resumes by seq later)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx

from tests.integration.cli_server import make_dataset, start_server

# uvicorn's graceful-shutdown backstop (cli/server.py GRACEFUL_SHUTDOWN_S): a stream still
# open then is cancelled mid-body, which the client sees as an incomplete chunked body. So a
# clean end of every stream proves the stopping notice closed it, whatever the machine's
# load; the exit must still come before the backstop would have fired.
BACKSTOP_S = 3.0


def test_sigterm_closes_open_log_streams_at_once(database_url: str, tmp_path: Path) -> None:
    server = start_server(database_url, tmp_path / "home", "--workers", "0")
    try:
        key = make_dataset(server.url, "shutdown")
        run = httpx.post(
            f"{server.url}/api/tunix/run", params={"mode": "async"}, json={"dataset_key": key}
        ).json()
        received: list[list[str]] = [[] for _ in range(3)]
        closed_at: list[float] = []
        failures: list[BaseException] = []

        def follow(lines: list[str]) -> None:
            url = f"{server.url}/api/tunix/runs/{run['run_id']}/logs"
            try:
                with httpx.stream("GET", url, timeout=30) as response:
                    for line in response.iter_lines():
                        lines.append(line)
            except httpx.HTTPError as exc:
                failures.append(exc)
            closed_at.append(time.monotonic())

        readers = [threading.Thread(target=follow, args=(lines,)) for lines in received]
        for reader in readers:
            reader.start()
        # Every reader is following (its stream served a first round) before the signal.
        deadline = time.monotonic() + 10
        while not all(any(x.startswith("event: status") for x in lines) for lines in received):
            assert time.monotonic() < deadline, received
            time.sleep(0.05)

        assert server.proc is not None
        began = time.monotonic()
        server.proc.terminate()
        server.proc.wait(10)
        exited_in = time.monotonic() - began
        for reader in readers:
            reader.join(10)
        assert len(closed_at) == 3
        assert not failures, failures  # every stream ended cleanly, none cut by the backstop
        assert exited_in < BACKSTOP_S, (exited_in, server.output())
        assert all(t - began < BACKSTOP_S for t in closed_at), [t - began for t in closed_at]
        for lines in received:
            assert "event: end" not in lines  # the run is still pending: no false end
        # uvicorn re-raises the captured signal once it has shut down cleanly.
        assert server.proc.returncode in (0, -signal.SIGTERM), server.output()
    finally:
        server.stop()
