"""Serving a run's files safely: path confinement, HTTP byte ranges, streamed tar archives.

Confinement invariant: a relative path from the database is joined to the run's directory,
fully resolved (symlinks included, os.path.realpath) and must still lie inside the resolved
run directory; otherwise it is NotFound and nothing is opened. Files are then opened with
O_NOFOLLOW so a symlink swapped in after the check is refused too.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import anyio

from tunix_rt import errors

CHUNK_BYTES = 256 * 1024
TAR_BLOCK_BYTES = 512
TAR_RECORD_BYTES = 20 * TAR_BLOCK_BYTES
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
MAX_POSITION_DIGITS = 18
BEYOND_ANY_FILE: int = int("1" + "0" * MAX_POSITION_DIGITS)


class RangeNotSatisfiable(Exception):
    """The Range header is malformed or selects no byte of the file (HTTP 416)."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.message = message
        self.size = size


def run_directory(artifact_root: Path, run_id: uuid.UUID) -> Path:
    return Path(artifact_root) / str(run_id)


def resolve_inside(run_dir: Path, relpath: str) -> Path:
    """Resolve relpath under run_dir; NotFound if it escapes, is hostile, or does not exist."""
    refused = errors.NotFound("artifact file not found")
    if not relpath or "\x00" in relpath or "\\" in relpath or os.path.isabs(relpath):
        raise refused
    if any(part == ".." for part in relpath.split("/")):
        raise refused
    base = Path(os.path.realpath(run_dir))
    target = Path(os.path.realpath(base / relpath))
    if not target.is_relative_to(base) or not target.exists():
        raise refused
    return target


def open_regular_file(path: Path) -> tuple[BinaryIO, int]:
    """Open a regular file without following a final symlink; the caller closes the handle."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise errors.NotFound("artifact file not found") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise errors.NotFound("artifact is not a regular file")
    return os.fdopen(fd, "rb"), info.st_size


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Parse a single `bytes=` range into inclusive (start, end).

    None means "ignore the header and send everything" (several ranges: allowed by RFC 9110).
    Raises RangeNotSatisfiable for a malformed header or a range past the end.
    """
    spec = header.strip().replace(" ", "")
    if spec.startswith("bytes=") and "," in spec:
        return None
    match = RANGE_RE.match(spec)
    if match is None or (not match.group(1) and not match.group(2)):
        raise RangeNotSatisfiable(f"malformed Range header {header[:100]!r}", size)
    first, last = match.group(1), match.group(2)
    if not first:
        suffix = _byte_position(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable("empty suffix range", size)
        return max(0, size - suffix), size - 1
    start = _byte_position(first)
    end = _byte_position(last) if last else size - 1
    if start >= size:
        raise RangeNotSatisfiable(f"range starts past the end of the file ({size} bytes)", size)
    if end < start:
        raise RangeNotSatisfiable(f"range end before start in {header[:100]!r}", size)
    return start, min(end, size - 1)


def _byte_position(digits: str) -> int:
    """A Range number; any value past MAX_POSITION_DIGITS digits is beyond every file, and
    int() of thousands of digits is refused by Python (and slow), so it is never called."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > MAX_POSITION_DIGITS:
        return BEYOND_ANY_FILE
    return int(significant)


async def iter_file(handle: BinaryIO, start: int, length: int) -> AsyncIterator[bytes]:
    """Stream `length` bytes from `start`, reading in a thread; closes the handle at the end."""
    try:
        await anyio.to_thread.run_sync(handle.seek, start)
        remaining = length
        while remaining > 0:
            chunk = await anyio.to_thread.run_sync(handle.read, min(CHUNK_BYTES, remaining))
            if not chunk:
                break  # the file shrank under us: the client sees a short body
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _open_confined(base: Path, path: Path) -> tuple[BinaryIO, os.stat_result] | None:
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(base):
        return None
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None  # vanished (checkpoint rotation) or swapped for a symlink
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb"), info


def _list_tree(root: Path) -> tuple[Path, os.stat_result, list[tuple[Path, os.stat_result | None]]]:
    """Resolve root and list what lies under it, parents first, symlinks skipped.

    Directories come with their stat; files with None (they are stat-ed once opened).
    """
    base = Path(os.path.realpath(root))
    found: list[tuple[Path, os.stat_result | None]] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames.sort()
        current = Path(dirpath)
        for name in dirnames:
            path = current / name
            if not path.is_symlink():
                found.append((path, path.stat()))
        for name in sorted(filenames):
            if not (current / name).is_symlink():
                found.append((current / name, None))
    return base, base.stat(), found


def _header(arcname: str, info: os.stat_result, *, is_dir: bool) -> bytes:
    entry = tarfile.TarInfo(arcname)
    entry.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    entry.size = 0 if is_dir else info.st_size
    entry.mode = stat.S_IMODE(info.st_mode)
    entry.mtime = int(info.st_mtime)
    return entry.tobuf(format=tarfile.PAX_FORMAT)


async def iter_tar(root: Path, arc_root: str) -> AsyncIterator[bytes]:
    """Stream root (a confined directory) as an uncompressed tar, one file chunk at a time.

    Each header is written from the fstat of the already-open file and exactly that many bytes
    follow (zero-padded if the file shrank), so a file changing mid-download never corrupts
    the archive framing. Symlinks are never archived or followed.
    """
    base, root_info, entries = await anyio.to_thread.run_sync(_list_tree, root)
    head = _header(arc_root, root_info, is_dir=True)
    written = len(head)
    yield head
    for path, dir_info in entries:
        arcname = f"{arc_root}/{path.relative_to(base).as_posix()}"
        if dir_info is not None:
            head = _header(arcname, dir_info, is_dir=True)
            written += len(head)
            yield head
            continue
        opened = await anyio.to_thread.run_sync(_open_confined, base, path)
        if opened is None:
            continue
        handle, info = opened
        head = _header(arcname, info, is_dir=False)
        written += len(head)
        yield head
        sent = 0
        async for chunk in iter_file(handle, 0, info.st_size):
            sent += len(chunk)
            yield chunk
        block_pad = -info.st_size % TAR_BLOCK_BYTES
        written += info.st_size + block_pad
        if info.st_size - sent + block_pad:
            yield b"\0" * (info.st_size - sent + block_pad)
    trailer = 2 * TAR_BLOCK_BYTES
    trailer += -(written + trailer) % TAR_RECORD_BYTES
    yield b"\0" * trailer
