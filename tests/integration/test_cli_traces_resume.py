"""`tunix-rt traces import` when the server dies mid-import: one line saying which lines were
stored and where it stopped, exit 1, no traceback; `--resume-from LINE` imports the rest.
A real `tunix-rt serve`, killed with SIGKILL, on both databases."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx

from tests.integration.cli_server import empty_database, run_cli, spawn_cli, start_server
from tests.integration.test_traces_api import make_payload

LINES = 6_000
BATCH = 50
STOPPED = re.compile(r"lines (\d+)-(\d+) imported, stopped at line (\d+): (.*)")


def stored_traces(url: str) -> int:
    count, offset = 0, 0
    while True:
        page = httpx.get(f"{url}/api/traces", params={"limit": 100, "offset": offset}, timeout=30)
        rows = page.json()["data"]
        count += len(rows)
        if page.json()["pagination"]["next_offset"] is None:
            return count
        offset += 100


def has_at_least(url: str, count: int) -> bool:
    page = httpx.get(f"{url}/api/traces", params={"limit": 1, "offset": count - 1}, timeout=10)
    return bool(page.json()["data"])


def test_import_reports_where_it_stopped_and_resumes(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text("".join(json.dumps(make_payload(n)) + "\n" for n in range(LINES)))
    home = tmp_path / "home"
    server = start_server(database_url, home, "--workers", "0")
    try:
        importer = spawn_cli(server.url, "traces", "import", str(path), "--batch-size", str(BATCH))
        deadline = time.monotonic() + 60
        while not has_at_least(server.url, 10 * BATCH):
            assert importer.poll() is None, importer.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        server.kill()  # SIGKILL: mid-batch or between batches, whatever it hits
        out, err = importer.communicate(timeout=120)
        assert importer.returncode == 1, (out, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        found = STOPPED.search(err)
        assert found is not None, err
        first, last, stopped_at = (int(found[i]) for i in (1, 2, 3))
        assert first == 1 and stopped_at == last + 1 and last % BATCH == 0, err
        assert f"--resume-from {stopped_at}" in err
        assert last < LINES

        # Same database, a new server: exactly lines 1..last are there, plus the batch that
        # was in flight if (and only if) the message said it may have been stored.
        server = start_server(database_url, home, "--workers", "0", port=server.port)
        stored = stored_traces(server.url)
        uncertain = "may be stored too" in err
        assert stored == last or (uncertain and stored == last + BATCH), (stored, err)

        resumed = run_cli(
            server.url, "traces", "import", str(path), "--resume-from", str(stopped_at), "--json"
        )
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["imported"] == LINES - last
        assert stored_traces(server.url) == stored + LINES - last
    finally:
        server.stop()
        empty_database(database_url)


def test_resume_from_skips_earlier_lines_and_reports_file_line_numbers(
    database_url: str, tmp_path: Path
) -> None:
    lines = [json.dumps(make_payload(n)) for n in range(12)]
    lines[2] = "not json"  # before the resume point: never parsed
    lines[9] = '{"trace_version": "1"}'  # line 10: bad, after it
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    server = start_server(database_url, tmp_path / "home", "--workers", "0")
    try:
        done = run_cli(
            server.url, "traces", "import", str(path), "--resume-from", "4", "--batch-size", "3"
        )
        assert done.returncode == 1
        assert "lines 4-9 imported, stopped at line 10: line 10:" in done.stderr, done.stderr
        assert "--resume-from 10" in done.stderr
        assert stored_traces(server.url) == 6
    finally:
        server.stop()
        empty_database(database_url)
