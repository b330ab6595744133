"""Comparing two real runs in the browser: both trained by the real worker and training child
(different learning rates and seeds, evaluations during training), ticked on the runs list,
then the compare page shows both in the legend, every metric overlaid, the differing
parameters highlighted and the paired evaluation with its n; the run page charts every
metric and lists the resolved parameters."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, save_screenshot

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

RUN_TIMEOUT_S = 420.0  # two tiny runs one after the other (one worker), each with evaluations
RUNS = [
    {"name": "lr-small", "learning_rate": 0.003, "seed": 0},
    {"name": "lr-large", "learning_rate": 0.01, "seed": 1},
]


def train_two_runs(api: httpx.Client) -> tuple[str, list[str]]:
    generated = api.post(
        "/api/traces/generate", json={"task": "high_card_duel", "count": 40, "seed": 11}
    )
    assert generated.status_code in (200, 201), generated.text
    build = api.post(
        "/api/datasets/build",
        json={
            "dataset_name": "e2e-compare",
            "dataset_version": "v1",
            "filters": {"task": "high_card_duel"},
            "holdout_fraction": 0.2,
        },
    )
    assert build.status_code in (200, 201), build.text
    dataset_key = str(build.json()["dataset_key"])
    run_ids = []
    for params in RUNS:
        body: dict[str, Any] = {
            "dataset_key": dataset_key,
            "max_steps": 6,
            "batch_size": 8,
            "save_every_steps": 6,
            "eval_every_steps": 3,
            "eval_subset_size": 4,
            "eval_max_new_tokens": 16,
            **params,
        }
        submitted = api.post("/api/tunix/run", json=body)
        assert submitted.status_code == 202, submitted.text
        run_ids.append(str(submitted.json()["run_id"]))
    return dataset_key, run_ids


def wait_completed(api: httpx.Client, server: Server, run_ids: list[str]) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    for run_id in run_ids:
        while (status := api.get(f"/api/tunix/runs/{run_id}").json()["status"]) != "completed":
            assert status in ("pending", "running"), (status, server.log_tail())
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.5)


def test_compare_two_trained_runs(server: Server, page: Page) -> None:
    api = httpx.Client(base_url=server.url, timeout=60)
    dataset_key, run_ids = train_two_runs(api)
    wait_completed(api, server, run_ids)
    first, second = run_ids

    metric_names = {p["name"] for p in api.get(f"/api/tunix/runs/{first}/metrics").json()["data"]}
    assert {"loss", "eval/exact_match"} <= metric_names, metric_names
    evaluations = [
        api.get("/api/evaluations", params={"run_id": run_id}).json()["data"][0]
        for run_id in run_ids
    ]
    assert all(e["status"] == "completed" for e in evaluations), evaluations
    assert {e["dataset_key"] for e in evaluations} == {dataset_key}
    paired = api.get(
        "/api/compare/evaluations",
        params={
            "baseline": evaluations[0]["evaluation_id"],
            "candidate": evaluations[1]["evaluation_id"],
        },
    ).json()
    assert paired["n_paired"] > 0, paired

    # The run page: every recorded metric charted, the resolved parameters listed.
    page.goto(f"{server.url}/runs/{first}?tab=metrics")
    panel = page.get_by_test_id("metrics-panel")
    expect(panel).to_have_attribute("data-metric-count", str(len(metric_names)))
    expect(
        page.get_by_test_id("metric-group-eval").locator("[data-metric='eval/exact_match']")
    ).to_have_count(1)
    page.get_by_test_id("metrics-log-scale").check()
    page.get_by_test_id("metrics-x-axis").select_option("wall")
    expect(page.get_by_test_id("loss-chart")).to_have_attribute(
        "data-point-count", re.compile(r"^[1-9]\d*$")
    )
    save_screenshot(page, "run-metrics")
    page.get_by_test_id("tab-params").click()
    lr_row = page.locator("[data-testid=param-row][data-key='hyperparameters.learning_rate']")
    expect(lr_row.get_by_test_id("param-value")).to_have_text("0.003")
    expect(page.get_by_test_id("params-source")).to_have_attribute("data-source", "spec.json")

    # Tick both runs on the list (first ticked = baseline) and compare.
    page.goto(f"{server.url}/runs")
    compare = page.get_by_test_id("compare-runs")
    expect(compare).to_be_disabled()
    for run_id in run_ids:
        page.locator(f"[data-testid=run-row][data-run-id='{run_id}']").get_by_test_id(
            "run-select"
        ).check()
    expect(compare).to_have_text("Compare (2)")
    compare.click()
    expect(page).to_have_url(f"{server.url}/compare?runs={first},{second}")

    legend = page.get_by_test_id("legend-item")
    expect(legend).to_have_count(2)
    expect(legend.nth(0)).to_contain_text("lr-small")
    expect(legend.nth(1)).to_contain_text("lr-large")
    expect(page.get_by_test_id("loss-chart")).to_have_attribute("data-series-count", "2")
    expect(page.locator("[data-metric='eval/exact_match']")).to_have_attribute(
        "data-series-count", "2"
    )

    for key in ("hyperparameters.learning_rate", "hyperparameters.seed"):
        row = page.locator(f"[data-testid=param-diff-row][data-key='{key}']")
        expect(row).to_have_attribute("data-differs", "true")
        expect(row).to_have_class(re.compile(r"param-differs"))
    same = page.locator("[data-testid=param-diff-row][data-key='hyperparameters.batch_size']")
    expect(same).to_have_count(0)
    page.get_by_test_id("params-show-all").check()
    expect(same).to_have_attribute("data-differs", "false")

    row = page.locator(f"[data-testid=paired-row][data-run-id='{second}']")
    expect(row.get_by_test_id("paired-n")).to_have_text(str(paired["n_paired"]))
    flips = paired["flips"]
    expect(row.get_by_test_id("paired-flips")).to_have_text(
        f"{flips['right_to_wrong']} / {flips['wrong_to_right']}"
    )
    expect(page.get_by_test_id("flipped-example")).to_have_count(len(paired["examples"]))
    save_screenshot(page, "run-compare")
