"""All-or-nothing validation of a batch of trace payloads, with per-item errors."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tunix_rt import errors
from tunix_rt.traces import store
from tunix_rt.traces.schema import PayloadProblem, validate_payload_dict

MAX_REPORTED_ERRORS = 100


def item_errors(index: int, exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "index": index,
            "field": ".".join(str(p) for p in err["loc"]) or "(item)",
            "message": err["msg"],
        }
        for err in exc.errors(include_url=False)
    ]


def validate_batch(items: list[Any], max_trace_bytes: int) -> list[dict[str, Any]]:
    """Every item valid (as plain dicts), or ValidationFailed listing up to 100 problems
    by index."""
    problems: list[dict[str, Any]] = []
    bad_items = 0
    payloads: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            payload: dict[str, Any] = dict(validate_payload_dict(item))
        except ValidationError as exc:
            bad_items += 1
            problems.extend(item_errors(index, exc))
            continue
        except PayloadProblem as exc:
            bad_items += 1
            problems.append({"index": index, "field": exc.field, "message": exc.message})
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
