"""GRPO in the browser: a completed training run's "Continue with GRPO" opens the New run form
for it, the GRPO run it starts samples completions, and its Rollouts tab shows them by prompt,
filters them and saves chosen ones as traces. The worker runs the GRPO fixture child
(tests/fixtures/grpo_child.py: the fixture training child for the SFT run), so this takes
seconds."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import REPO_ROOT, Server, save_screenshot, start_server

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

GRPO_CHILD = REPO_ROOT / "tests" / "fixtures" / "grpo_child.py"
SAMPLE_CHILD = REPO_ROOT / "tests" / "fixtures" / "sample_child.py"


@pytest.fixture(scope="module")
def grpo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    command = json.dumps([sys.executable, str(GRPO_CHILD), "ok"])
    sample = json.dumps([sys.executable, str(SAMPLE_CHILD), "echo"])
    srv = start_server(
        tmp_path_factory.mktemp("e2e-grpo-home"),
        {"TUNIX_RT_WORKER_COMMAND": command, "TUNIX_RT_SAMPLE_COMMAND": sample},
    )
    yield srv
    srv.stop()


def completed_sft_run(api: httpx.Client, version: str = "v1") -> tuple[str, str]:
    generated = api.post("/api/traces/generate", json={"task": "addition", "count": 12, "seed": 5})
    assert generated.status_code in (200, 201), generated.text
    build = api.post(
        "/api/datasets/build",
        json={
            "dataset_name": "e2e-grpo",
            "dataset_version": version,
            "filters": {"task": "addition"},
            "holdout_fraction": 0.25,
        },
    )
    assert build.status_code in (200, 201), build.text
    dataset_key = str(build.json()["dataset_key"])
    submitted = api.post("/api/tunix/run", json={"dataset_key": dataset_key, "name": "sft base"})
    assert submitted.status_code == 202, submitted.text
    run_id = str(submitted.json()["run_id"])
    deadline = time.monotonic() + 60
    while (status := api.get(f"/api/tunix/runs/{run_id}").json()["status"]) != "completed":
        assert status in ("pending", "running"), status
        assert time.monotonic() < deadline, "the SFT run did not finish in 60 s"
        time.sleep(0.3)
    return run_id, dataset_key


def test_continue_with_grpo_and_browse_its_rollouts(grpo_server: Server, page: Page) -> None:
    with httpx.Client(base_url=grpo_server.url, timeout=30) as api:
        sft_id, dataset_key = completed_sft_run(api)

    page.goto(f"{grpo_server.url}/runs/{sft_id}")
    expect(page.get_by_test_id("tab-rollouts")).to_have_count(0)  # an SFT run samples nothing
    page.get_by_test_id("continue-grpo").click()
    expect(page).to_have_url(re.compile(rf"/runs/new\?grpo_from={sft_id}$"))
    expect(page.get_by_test_id("run-algorithm")).to_have_value("grpo")
    expect(page.get_by_test_id("run-init-run")).to_have_value(sft_id)
    expect(page.get_by_test_id("run-dataset")).to_have_value(dataset_key)
    expect(page.get_by_test_id("run-name")).to_have_value("sft base (GRPO)")
    expect(page.get_by_test_id("run-init-checkpoint")).to_contain_text("latest (step 3)")
    page.get_by_test_id("run-max_steps").fill("4")
    page.get_by_test_id("run-grpo-rollout_every_steps").fill("2")
    page.get_by_test_id("run-grpo-rollout_prompts").fill("2")
    save_screenshot(page, "grpo-new-run")
    page.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    grpo_id = page.url.rsplit("/", 1)[1]
    assert grpo_id != sft_id
    expect(page.get_by_test_id("status-badge")).to_have_text("completed", timeout=60_000)
    expect(page.get_by_test_id("run-request")).to_contain_text(f'"run_id": "{sft_id}"')

    page.get_by_test_id("tab-metrics").click()
    rewards = page.get_by_test_id("metric-group-reward")
    expect(rewards.locator("[data-metric]").first).to_have_attribute("data-metric", "reward/mean")
    page.get_by_test_id("tab-rollouts").click()
    # The child samples at steps 1, 2 and 4: the latest is shown, 2 prompts x 4 generations.
    expect(page.get_by_test_id("rollouts-count")).to_have_text("8 completions at step 4")
    groups = page.get_by_test_id("rollout-group")
    expect(groups).to_have_count(2)
    expect(groups.nth(0).get_by_test_id("rollout-row")).to_have_count(4)
    expect(groups.nth(0).get_by_test_id("rollout-group-flat")).to_have_count(0)  # rewards differ
    page.get_by_test_id("rollouts-step").select_option("1")
    page.get_by_test_id("rollouts-filter").select_option("format_right_answer_wrong")
    expect(page.get_by_test_id("rollouts-count")).to_have_text("2 completions at step 1")
    expect(page.get_by_test_id("rollout-correct")).to_have_text(["✗", "✗"])
    # Each group's statistics describe all 4 generations of its prompt, not the filtered one.
    expect(groups.nth(0).get_by_test_id("rollout-group-shown")).to_contain_text("showing 1 of 4")
    expect(groups.nth(0).get_by_test_id("rollout-group-stats")).to_contain_text("2/4 correct")
    save_screenshot(page, "grpo-rollouts")

    page.get_by_test_id("rollouts-select-all").check()
    page.get_by_test_id("rollouts-save").click()
    expect(page.get_by_test_id("rollouts-saved")).to_contain_text("Saved 2 traces")
    href = page.get_by_test_id("rollouts-saved").get_by_role("link").first.get_attribute("href")
    assert href is not None and href.startswith("/traces/")
    with httpx.Client(base_url=grpo_server.url, timeout=30) as api:
        trace = api.get(f"/api/traces/{href.rsplit('/', 1)[1]}")
    assert trace.status_code == 200, trace.text
    assert "wrong" in json.dumps(trace.json())  # the format-right, answer-wrong completion
    page.get_by_test_id("rollouts-saved-all").click()
    expect(page).to_have_url(re.compile(r"/traces\?source=rollout$"))
    expect(page.get_by_test_id("trace-row")).to_have_count(2)


def test_try_it_generates_from_a_chosen_checkpoint(grpo_server: Server, page: Page) -> None:
    """The Try it tab sends the prompts and the checkpoint to the generate endpoint, whose
    child (tests/fixtures/sample_child.py) answers from the staged checkpoint's files."""
    with httpx.Client(base_url=grpo_server.url, timeout=30) as api:
        sft_id, _ = completed_sft_run(api, "v2")
    page.goto(f"{grpo_server.url}/runs/{sft_id}")
    page.get_by_test_id("tab-try").click()
    page.get_by_test_id("try-prompt").fill("What is 12+30?\n---\nHi")
    page.get_by_test_id("try-checkpoint").select_option("3")
    page.get_by_test_id("try-generate").click()
    expect(page.get_by_test_id("try-completion")).to_have_count(2, timeout=30_000)
    expect(page.get_by_test_id("try-text").first).to_contain_text("step 3 weights")
    expect(page.get_by_test_id("try-answer")).to_have_text(["14", "2"])
    save_screenshot(page, "try-it")
