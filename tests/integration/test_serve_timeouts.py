"""`tunix-rt serve` closes connections that stall before their request is complete (nothing
sent, headers trickled or cut, a body that stops), and keeps the ones that behave: a slow but
moving upload, a long log stream, a kept-alive connection until its idle limit."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.cli_server import Server, empty_database, make_dataset, start_server
from tests.integration.test_traces_api import make_payload

REQUEST_TIMEOUT_S = 1.0
KEEP_ALIVE_S = 1
# Closed within the timeout plus slack for a loaded machine; without a deadline they stay open.
CLOSED_WITHIN_S = REQUEST_TIMEOUT_S + 4.0


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("serve-timeouts") / "home"
    srv = start_server(
        database_url,
        home,
        "--workers",
        "0",
        "--request-timeout",
        str(REQUEST_TIMEOUT_S),
        "--keep-alive",
        str(KEEP_ALIVE_S),
    )
    try:
        yield srv
    finally:
        srv.stop()
        empty_database(database_url)


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.settimeout(0.1)
    return sock


def closed_by_server(sock: socket.socket) -> tuple[bool, bytes]:
    """Read until EOF; (True, what came) when the server closed, (False, ...) if still open."""
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        pass
    return True, received


def wait_all_closed(socks: list[socket.socket], timeout_s: float) -> dict[int, bytes]:
    began = time.monotonic()
    answers: dict[int, bytes] = {}
    while len(answers) < len(socks):
        assert time.monotonic() - began < timeout_s, f"{len(socks) - len(answers)} still open"
        for index, sock in enumerate(socks):
            if index not in answers:
                closed, data = closed_by_server(sock)
                if closed:
                    answers[index] = data
        time.sleep(0.05)
    return answers


def test_stalled_connections_are_closed(server: Server) -> None:
    silent = [connect(server) for _ in range(20)]
    partial = [connect(server) for _ in range(20)]
    for sock in partial:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
    trickling = connect(server)
    stalled_body = connect(server)
    stalled_body.sendall(
        b"POST /api/traces/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"
    )
    began = time.monotonic()
    # Slowloris: a byte now and then never completes the headers, and does not reset the clock.
    header = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    sent = 0
    trickle_closed = False
    while time.monotonic() - began < CLOSED_WITHIN_S and not trickle_closed:
        try:
            trickling.sendall(header[sent % len(header) : sent % len(header) + 1])
            sent += 1
        except (BrokenPipeError, ConnectionResetError):
            trickle_closed = True
            break
        trickle_closed, _ = closed_by_server(trickling)
        time.sleep(0.2)
    assert trickle_closed, "a trickling client kept its connection"

    answers = wait_all_closed([*silent, *partial, stalled_body], CLOSED_WITHIN_S)
    for index in range(len(silent), len(silent) + len(partial)):
        assert answers[index].startswith(b"HTTP/1.1 408"), answers[index]
    for sock in [*silent, *partial, trickling, stalled_body]:
        sock.close()

    # The server still answers normally afterwards.
    assert httpx.get(f"{server.url}/api/health", timeout=5).status_code == 200


def test_kept_alive_connection_closes_after_idle_limit(server: Server) -> None:
    sock = connect(server)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    time.sleep(0.3)
    closed, data = closed_by_server(sock)
    assert not closed and data.startswith(b"HTTP/1.1 200"), data
    assert wait_all_closed([sock], KEEP_ALIVE_S + 4.0)
    sock.close()


def test_slow_moving_upload_and_long_stream_are_not_cut(server: Server) -> None:
    body = json.dumps([make_payload(n) for n in range(3)]).encode()
    sock = connect(server)
    sock.sendall(
        b"POST /api/traces/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    # Three pauses just under the idle limit: more than the limit in total, never idle that long.
    third = len(body) // 3
    for part in (body[:third], body[third : 2 * third], body[2 * third :]):
        time.sleep(REQUEST_TIMEOUT_S * 0.6)
        sock.sendall(part)
    sock.settimeout(10)
    response = b""
    while chunk := sock.recv(4096):
        response += chunk
    sock.close()
    assert response.split(b"\r\n", 1)[0] in (b"HTTP/1.1 200 OK", b"HTTP/1.1 201 Created"), response

    key = make_dataset(server.url, "timeouts")
    run = httpx.post(f"{server.url}/api/tunix/run", json={"dataset_key": key}).json()
    events: list[str] = []
    began = time.monotonic()
    url = f"{server.url}/api/tunix/runs/{run['run_id']}/logs"
    with httpx.stream("GET", url, timeout=10) as stream:
        for line in stream.iter_lines():
            events.append(line)
            if time.monotonic() - began > REQUEST_TIMEOUT_S * 3:
                break
    # Still streaming (SSE heartbeats) well past the request deadline.
    assert time.monotonic() - began > REQUEST_TIMEOUT_S * 3
    assert any(line.startswith("event: heartbeat") for line in events), events[-5:]


def test_serve_help_documents_the_timeouts(tmp_path: Path) -> None:
    from tests.integration.cli_server import run_cli

    done = run_cli("http://127.0.0.1:9", "serve", "--help")
    assert "--request-timeout" in done.stdout and "--drain-timeout" in done.stdout
