"""Property-based fuzzing of every /api operation from the OpenAPI schema (schemathesis).

The app runs under a real uvicorn server in a thread (its own event loop owns the engine);
schemathesis generates valid and invalid requests for each operation. Whatever it sends, the
answer must be a 4xx/2xx with a JSON `detail` on errors, never a 5xx, and 2xx bodies must
match the documented response schema. Excluded: the SSE log stream, artifact downloads and
`mode=sync` waits (they block by design).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import empty_tables
from tunix_rt.db import engine as db_engine
from tunix_rt.settings import Settings

MAX_EXAMPLES = 12
EXCLUDED_SUFFIXES = ("/logs", "/download")
# Keep generated work small: a fuzzer asking for 100,000 generated traces is legal but slow.
MAX_FUZZ_COUNT = 20


class ServerThread:
    """uvicorn on a free port in a thread; tables are emptied before the loop closes."""

    def __init__(self, settings: Settings) -> None:
        from tunix_rt.api.app import create_app

        self.settings = settings
        app = create_app(settings, migrate_db=False)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        await self.server.serve()
        eng = db_engine.create_engine(self.settings.database_url)
        try:
            await empty_tables(eng)
        finally:
            await eng.dispose()

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    with ServerThread(settings) as url:
        yield url


def fuzzed_operations(schema: Any) -> list[Any]:
    ops = []
    for result in schema.get_all_operations():
        op = result.ok()
        if not op.path.startswith("/api/") or op.path.endswith(EXCLUDED_SUFFIXES):
            continue
        ops.append(op)
    return ops


def bound_case(case: Any) -> None:
    """Bound the work one request can ask for (it is a fuzz test, not a load test)."""
    if isinstance(case.query, dict) and case.query.get("mode") == "sync":
        case.query["mode"] = "async"
    count = case.body.get("count") if isinstance(case.body, dict) else None
    if isinstance(count, int | float) and count > MAX_FUZZ_COUNT:
        case.body["count"] = MAX_FUZZ_COUNT


def check_operation(op: Any, base_url: str, mode: GenerationMode) -> None:
    @hsettings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        bound_case(case)
        response = case.call(base_url=base_url, timeout=30)
        label = f"{op.method.upper()} {op.path} -> {response.status_code}: {response.text[:300]}"
        case.validate_response(response, checks=[not_a_server_error])
        assert response.status_code < 500, label
        if response.status_code >= 400:
            assert "detail" in response.json(), label
        elif "application/json" in str(response.headers.get("content-type")):
            case.validate_response(response, checks=[response_schema_conformance])

    try:
        run()
    except Unsatisfiable:
        # Nothing to make invalid (e.g. no parameters and no body): only positive cases exist.
        if mode is not GenerationMode.NEGATIVE:
            raise


def test_api_fuzz_never_5xx(base_url: str) -> None:
    openapi = httpx.get(f"{base_url}/openapi.json", timeout=30)
    assert openapi.status_code == 200, openapi.text[:500]
    schema = schemathesis.openapi.from_dict(openapi.json())
    ops = fuzzed_operations(schema)
    assert any(op.path == "/api/traces/batch" for op in ops)
    assert any(op.path == "/api/datasets/build" for op in ops)
    # Every operation is fuzzed even after a failure, so one bug does not hide the others.
    failures = []
    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                check_operation(op, base_url, mode)
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup
                failures.append(f"{op.method.upper()} {op.path} ({mode.value}): {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
