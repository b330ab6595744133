"""Run references on the command line: a full run id, or the short id the UI shows.

A short id is a unique prefix (at least 4 hex digits) of a run id. It is resolved here, on
the client, with one list call filtered by `id_prefix` (a primary-key range scan on the
server): the API itself keeps full ids in every path, so a URL never changes meaning when a
later run makes a prefix ambiguous.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from tunix_rt.cli.client import ApiError, Client

MIN_PREFIX_DIGITS = 4
SHORT_ID_DIGITS = 8
MAX_CANDIDATES_SHOWN = 10
_HEX_PREFIX = re.compile(r"^[0-9a-fA-F-]+$")


def short_id(run_id: str) -> str:
    return run_id[:SHORT_ID_DIGITS]


def resolve_run_id(client: Client, ref: str) -> str:
    """The full run id REF names; ApiError (exit 1) when it names none or several."""
    ref = ref.strip()
    try:
        return str(uuid.UUID(ref))
    except ValueError:
        pass
    if not _HEX_PREFIX.match(ref) or len(ref.replace("-", "")) < MIN_PREFIX_DIGITS:
        raise ApiError(
            f"not a run id: {ref!r} (a run id or its first {MIN_PREFIX_DIGITS}+ hex digits, "
            "see `tunix-rt runs list`)"
        )
    page = client.get_json(
        "/api/tunix/runs",
        params={"id_prefix": ref, "kind": "all", "limit": MAX_CANDIDATES_SHOWN + 1},
    )
    matches: list[dict[str, Any]] = page["data"]
    if not matches:
        raise ApiError(f"no run id starts with {ref!r} (see `tunix-rt runs list`)")
    if len(matches) > 1:
        more = " and more" if len(matches) > MAX_CANDIDATES_SHOWN else ""
        listed = "\n".join(
            f"  {run['run_id']}  {run['status']}  {run['dataset_key']}"
            for run in matches[:MAX_CANDIDATES_SHOWN]
        )
        raise ApiError(f"{ref!r} matches several runs{more}; give more digits of one of:\n{listed}")
    return str(matches[0]["run_id"])
