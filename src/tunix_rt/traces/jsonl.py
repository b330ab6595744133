"""Reading trace payloads from a JSONL file in validated batches, in constant memory.

A batch is yielded only once every line in it parsed and validated, so a caller that sends
batches never sends part of a bad one. Blank lines are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import ValidationError

from tunix_rt.traces.schema import PayloadProblem, validate_payload_dict


class JsonlError(ValueError):
    def __init__(self, line_no: int, message: str) -> None:
        super().__init__(f"line {line_no}: {message}")
        self.line_no = line_no
        self.message = message


@dataclass
class LineBatch:
    """Validated lines, kept as the raw JSON text (re-encoding them would cost as much)."""

    lines: list[bytes] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)
    end_offset: int = 0  # bytes of the file consumed once this batch is read

    def json_array(self) -> bytes:
        return b"[" + b",".join(self.lines) + b"]"

    @property
    def first_line(self) -> int:
        return self.line_numbers[0]

    @property
    def last_line(self) -> int:
        return self.line_numbers[-1]


def describe_validation(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {err['msg']}{more}" if where else f"{err['msg']}{more}"


def parse_line(line_no: int, text: bytes) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        item = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise JsonlError(line_no, f"not valid JSON ({exc})") from exc
    try:
        return dict(validate_payload_dict(item))
    except ValidationError as exc:
        raise JsonlError(line_no, describe_validation(exc)) from exc
    except PayloadProblem as exc:
        raise JsonlError(line_no, str(exc)) from exc


def iter_batches(stream: BinaryIO, batch_size: int) -> Iterator[LineBatch]:
    batch = LineBatch()
    offset = 0
    for line_no, raw in enumerate(stream, start=1):
        offset += len(raw)
        text = raw.strip()
        if parse_line(line_no, text) is not None:
            batch.lines.append(text)
            batch.line_numbers.append(line_no)
        if len(batch.lines) >= batch_size:
            batch.end_offset = offset
            yield batch
            batch = LineBatch()
    if batch.lines:
        batch.end_offset = offset
        yield batch


def iter_file_batches(path: Path, batch_size: int) -> Iterator[LineBatch]:
    with path.open("rb") as stream:
        yield from iter_batches(stream, batch_size)
