"""A sweep in the browser: started from the sweeps page's form, followed on its page until it
completes (trials table, charts, importance), the best trial pinned. The worker runs the
sweep fixture child (its exact match depends on the learning rate), so this takes seconds."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import REPO_ROOT, Server, save_screenshot, start_server

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SWEEP_CHILD = REPO_ROOT / "tests" / "fixtures" / "sweep_child.py"


@pytest.fixture(scope="module")
def sweep_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs = tmp_path_factory.mktemp("sweep-children")
    command = json.dumps([sys.executable, str(SWEEP_CHILD), str(logs), "0.2"])
    srv = start_server(
        tmp_path_factory.mktemp("e2e-sweep-home"), {"TUNIX_RT_WORKER_COMMAND": command}
    )
    yield srv
    srv.stop()


def make_dataset(api: httpx.Client) -> str:
    generated = api.post(
        "/api/traces/generate", json={"task": "high_card_duel", "count": 30, "seed": 3}
    )
    assert generated.status_code in (200, 201), generated.text
    build = api.post(
        "/api/datasets/build",
        json={
            "dataset_name": "e2e-sweep",
            "dataset_version": "v1",
            "filters": {"task": "high_card_duel"},
            "holdout_fraction": 0.2,
        },
    )
    assert build.status_code in (200, 201), build.text
    return str(build.json()["dataset_key"])


def test_start_follow_and_pin_a_sweep_in_the_browser(
    sweep_server: Server, page: Page, tmp_path: Path
) -> None:
    with httpx.Client(base_url=sweep_server.url, timeout=30) as api:
        dataset_key = make_dataset(api)
    spec = {
        "dataset_key": dataset_key,
        "name": "browser sweep",
        "base": {"max_steps": 6, "eval_every_steps": 2, "save_every_steps": 3},
        "space": {"learning_rate": {"type": "categorical", "choices": [1e-2, 1e-4, 1e-3]}},
        "sampler": "grid",
        "n_trials": 3,
        "max_parallel": 1,
        "seed": 0,
    }
    page.goto(f"{sweep_server.url}/sweeps")
    expect(page.get_by_test_id("sweeps-empty")).to_be_visible()
    page.get_by_test_id("new-sweep").locator("summary").click()
    page.get_by_test_id("new-sweep-spec").fill(json.dumps({**spec, "n_trials": 0}))
    page.get_by_test_id("new-sweep-submit").click()
    expect(page.get_by_test_id("new-sweep-error")).to_contain_text("n_trials")
    page.get_by_test_id("new-sweep-spec").fill(json.dumps(spec))
    page.get_by_test_id("new-sweep-submit").click()
    expect(page).to_have_url(re.compile(r"/sweeps/[0-9a-f-]{36}$"))
    expect(page.get_by_test_id("status-badge").first).to_have_text("completed", timeout=90_000)
    rows = page.get_by_test_id("trial-row")
    expect(rows).to_have_count(3)
    expect(page.locator('[data-testid="trial-row"][data-state="complete"]')).to_have_count(3)
    expect(page.get_by_test_id("sweep-best")).to_contain_text("learning_rate=0.01")
    expect(page.get_by_test_id("intermediate-curve")).to_have_count(3)
    expect(page.get_by_test_id("parallel-line")).to_have_count(3)
    expect(page.get_by_test_id("importance-row")).to_have_count(1)
    page.get_by_test_id("sort-value").click()
    expect(rows.first).to_contain_text("0.01")
    page.get_by_test_id("sweep-pin-best").click()
    expect(page.get_by_test_id("sweep-action")).to_contain_text("Pinned step 6")
    save_screenshot(page, "sweep-page")
    best_link = page.get_by_test_id("sweep-best").get_by_role("link")
    run_id = (best_link.get_attribute("href") or "").rsplit("/", 1)[-1]
    with httpx.Client(base_url=sweep_server.url, timeout=30) as api:
        checkpoints = api.get(f"/api/tunix/runs/{run_id}/checkpoints").json()["checkpoints"]
    assert any(any(p.startswith("sweep:") for p in c["pinned_by"]) for c in checkpoints)
    page.goto(f"{sweep_server.url}/runs")
    expect(page.get_by_test_id("run-sweep").first).to_contain_text("#")
