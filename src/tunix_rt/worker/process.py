"""The training child: spawn it in its own process group, tail its output, stop it.

stdout and stderr go to files (logs/stdout.log, logs/stderr.log) that the worker tails,
not to pipes: a chatty child then writes at disk speed whatever the worker and the database
are doing (a pipe would block it while the event loop is busy inserting lines, and during a
database restart), and a grandchild that keeps the descriptors open cannot stall the end of
a run. Structured events still use a pipe: they are few and small.

The child runs in a new session (its own process group), so a cancel signals it and every
process it spawned at once. PR_SET_PDEATHSIG makes the kernel kill the child if the worker
dies without cleaning up (SIGKILL of the worker); the training program also watches getppid.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

EVENTS_FD_ENV = "TUNIX_RT_EVENTS_FD"
READ_BYTES = 1024 * 1024
PR_SET_PDEATHSIG = 1

_libc: ctypes.CDLL | None = None


def _set_parent_death_signal() -> None:
    """Runs in the child between fork and exec: die with SIGKILL when the worker dies."""
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _load_libc() -> None:
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        with contextlib.suppress(OSError):
            _libc = ctypes.CDLL(name or "libc.so.6", use_errno=True)


@dataclass
class Child:
    proc: asyncio.subprocess.Process
    events: asyncio.StreamReader
    pgid: int

    @property
    def pid(self) -> int:
        return self.proc.pid


async def spawn_child(
    argv: Sequence[str],
    cwd: Path,
    extra_env: dict[str, str],
    stdout_path: Path,
    stderr_path: Path,
) -> Child:
    _load_libc()
    read_fd, write_fd = os.pipe()
    env = {**os.environ, **extra_env, EVENTS_FD_ENV: str(write_fd), "PYTHONUNBUFFERED": "1"}
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    out_fd = os.open(stdout_path, flags, 0o644)
    err_fd = os.open(stderr_path, flags, 0o644)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(cwd),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out_fd,
            stderr=err_fd,
            pass_fds=(write_fd,),
            start_new_session=True,
            preexec_fn=_set_parent_death_signal,
            limit=READ_BYTES,
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        # The child holds its own copies; ours must go so EOF arrives when the child exits.
        os.close(write_fd)
        os.close(out_fd)
        os.close(err_fd)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_BYTES)
    pipe = os.fdopen(read_fd, "rb", 0)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    return Child(proc=proc, events=reader, pgid=proc.pid)


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Signal a process group; False when it is already gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


async def terminate_child(child: Child, grace_s: float) -> int:
    """SIGTERM the child's group, wait `grace_s`, then SIGKILL the group. Returns the exit code."""
    if child.proc.returncode is None:
        signal_group(child.pgid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(child.proc.wait(), grace_s)
    # The group may hold grandchildren even after the child itself exited.
    signal_group(child.pgid, signal.SIGKILL)
    return await child.proc.wait()


async def tail_file(
    path: Path,
    on_data: Callable[[bytes], None],
    finished: asyncio.Event,
    interval_s: float,
    wait_for_room: Callable[[], Awaitable[None]],
) -> None:
    """Hand new bytes of `path` to on_data every interval_s until `finished` is set and the
    file is read to its end. `wait_for_room` applies backpressure (the file is the buffer)."""
    with path.open("rb") as fh:
        while True:
            await wait_for_room()
            # Read the flag first: data written before the child exited is then always seen.
            last_pass = finished.is_set()
            chunk = fh.read(READ_BYTES)
            if chunk:
                on_data(chunk)
                await asyncio.sleep(0)  # let the flusher and other runs have the loop
                continue
            if last_pass:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), interval_s)


async def pump_lines(
    stream: asyncio.StreamReader, on_line: Callable[[bytes], Awaitable[None]]
) -> None:
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # a line beyond the limit: skip what was buffered
            await stream.read(READ_BYTES)
            continue
        if not line:
            return
        await on_line(line)
