"""`runs logs -f` survives dropped connections: every line exactly once, the run's outcome as rc.

Two ways to drop the stream: a TCP proxy that cuts every connection after a moment (like a
load balancer's idle timeout), and killing and restarting the API server mid-follow while a
standalone worker keeps the run going.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli_server import (
    Server,
    empty_database,
    free_port,
    make_dataset,
    run_cli,
    spawn_cli,
    start_server,
    start_worker,
    wait_for_status,
)

STEPS = 60


class DroppingProxy:
    """Forward 127.0.0.1:port to the server; close each connection after `drop_after_s`."""

    def __init__(self, upstream_port: int, drop_after_s: float) -> None:
        self.upstream_port = upstream_port
        self.drop_after_s = drop_after_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections = 0
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()
            timer = threading.Timer(self.drop_after_s, self._close, args=(client, upstream))
            timer.daemon = True
            timer.start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    @staticmethod
    def _close(*socks: socket.socket) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def home(tmp_path: Path, database_url: str) -> Iterator[Path]:
    yield tmp_path / "home"
    empty_database(database_url)


def assert_each_step_once(output: str, steps: int) -> None:
    for step in range(1, steps + 1):
        assert output.count(f"step {step}/{steps} loss") == 1, f"step {step}:\n{output}"


def test_follow_resumes_through_a_dropping_proxy(database_url: str, home: Path) -> None:
    server = start_server(database_url, home, CLI_CHILD_STEP_S="0.05")
    proxy = DroppingProxy(server.port, drop_after_s=0.7)
    try:
        key = make_dataset(server.url, "follow-proxy")
        done = run_cli(proxy.url, "runs", "submit", "-d", key, "--steps", str(STEPS), "-f")
        assert done.returncode == 0, done.stdout + done.stderr
        assert_each_step_once(done.stdout, STEPS)
        assert "cli_child: done" in done.stdout
        assert proxy.connections >= 3  # the stream really was cut and resumed
        assert "resuming after line" in done.stderr
    finally:
        proxy.stop()
        server.stop()


def test_follow_resumes_across_a_server_restart(database_url: str, home: Path) -> None:
    port = free_port()
    api = start_server(database_url, home, "--workers", "0", port=port)
    worker = start_worker(database_url, home, "restart", CLI_CHILD_STEP_S="0.1")
    restarted: Server | None = None
    try:
        key = make_dataset(api.url, "follow-restart")
        submitted = run_cli(api.url, "runs", "submit", "-d", key, "--steps", str(STEPS), "--json")
        assert submitted.returncode == 0, submitted.stderr
        run_id = submitted.stdout.split('"run_id": "', 1)[1].split('"', 1)[0]
        wait_for_status(api.url, run_id, {"running"})
        follower = spawn_cli(api.url, "runs", "logs", run_id, "-f")
        assert follower.stdout is not None
        seen = [follower.stdout.readline() for _ in range(4)]  # following for real now
        api.kill()
        time.sleep(1.0)
        restarted = start_server(database_url, home, "--workers", "0", port=port)
        # Read on through the same buffered pipe: communicate() would skip what readline()
        # already buffered. stderr carries only a few notices, so it cannot fill and block.
        out = "".join(seen) + follower.stdout.read()
        assert follower.stderr is not None
        err = follower.stderr.read()
        follower.wait(timeout=120)
        assert follower.returncode == 0, out + err
        assert "step 60/60" not in "".join(seen)  # the server really went away mid-run
        assert_each_step_once(out, STEPS)
        assert "resuming after line" in err
    finally:
        if restarted is not None:
            restarted.stop()
        api.stop()
        worker.stop()
