"""Body limits of the traces routes, which override the service-wide TUNIX_RT_MAX_BODY_BYTES.

A single trace may be at most TUNIX_RT_TRACE_MAX_BYTES; a batch may carry MAX_BATCH_TRACES
of them. api/body_limit.py enforces both while the body streams in.
"""

from __future__ import annotations

from tunix_rt.settings import Settings

MAX_BATCH_TRACES = 10_000
# A batch may carry up to MAX_BATCH_TRACES traces of trace_max_bytes each, but parsing
# that much JSON in one request would need gigabytes of memory: cap it.
BATCH_MAX_BYTES_CAP = 256 * 1024 * 1024


def batch_max_bytes(settings: Settings) -> int:
    return min(settings.trace_max_bytes * MAX_BATCH_TRACES, BATCH_MAX_BYTES_CAP)
