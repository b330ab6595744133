"""A dry run's page shows its report (examples, token lengths, truncation) on the overview,
not an empty loss chart: real server, real worker and training child, real browser."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, save_screenshot

RUN_TIMEOUT_S = 240.0


def test_dry_run_page_shows_the_report(server: Server, page: Page) -> None:
    api = httpx.Client(base_url=server.url, timeout=60)
    generated = api.post("/api/traces/generate", json={"task": "addition", "count": 30, "seed": 7})
    assert generated.status_code in (200, 201), generated.text
    build = api.post(
        "/api/datasets/build",
        json={
            "dataset_name": "e2e-dry",
            "dataset_version": "v1",
            "filters": {"task": "addition"},
            "holdout_fraction": 0.2,
        },
    )
    assert build.status_code in (200, 201), build.text
    manifest = build.json()
    submitted = api.post(
        "/api/tunix/run", json={"dataset_key": manifest["dataset_key"], "dry_run": True}
    )
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["run_id"]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while (status := api.get(f"/api/tunix/runs/{run_id}").json()["status"]) != "completed":
        assert status in ("pending", "running"), (status, server.log_tail())
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.5)

    page.goto(f"{server.url}/runs/{run_id}")
    expect(page.get_by_test_id("dry-run-examples")).to_contain_text(
        f"{manifest['train_count']} train"
    )
    expect(page.get_by_test_id("dry-run-report")).to_be_visible()
    expect(page.get_by_test_id("loss-chart-empty")).to_have_count(0)
    save_screenshot(page, "dry-run-report")
