"""All-or-nothing validation of a batch of trace payloads, with per-item errors."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from tunix_rt import errors
from tunix_rt.traces import store
from tunix_rt.traces.schema import TracePayload

MAX_REPORTED_ERRORS = 100
PAYLOAD_ADAPTER: TypeAdapter[TracePayload] = TypeAdapter(TracePayload)


def item_errors(index: int, exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "index": index,
            "field": ".".join(str(p) for p in err["loc"]) or "(item)",
            "message": err["msg"],
        }
        for err in exc.errors(include_url=False)
    ]


def validate_batch(items: list[Any], max_trace_bytes: int) -> list[TracePayload]:
    """Every item valid, or ValidationFailed listing (up to 100) problems by index."""
    problems: list[dict[str, Any]] = []
    bad_items = 0
    payloads: list[TracePayload] = []
    for index, item in enumerate(items):
        try:
            payload = PAYLOAD_ADAPTER.validate_python(item)
        except ValidationError as exc:
            bad_items += 1
            problems.extend(item_errors(index, exc))
            continue
        size = store.payload_size(payload)
        if size > max_trace_bytes:
            bad_items += 1
            problems.append(
                {
                    "index": index,
                    "field": "(item)",
                    "message": f"trace is {size} bytes; TUNIX_RT_TRACE_MAX_BYTES is "
                    f"{max_trace_bytes}",
                }
            )
            continue
        payloads.append(payload)
    if problems:
        first = problems[0]
        raise errors.ValidationFailed(
            f"{bad_items} of {len(items)} traces are invalid, nothing was stored; first: "
            f"[{first['index']}] {first['field']}: {first['message']}",
            errors=problems[:MAX_REPORTED_ERRORS],
        )
    return payloads
