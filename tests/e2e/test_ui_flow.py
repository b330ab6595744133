"""The web UI against a real server, embedded worker and real training child.

Flow: generate traces, compare two, score one, build a dataset (live count preview),
start a run from the form, watch live logs and the loss curve, reach `completed`, read
the evaluation, download a checkpoint; cancel a second run from the UI; and see the error
state when the API is gone. Waits are explicit (data-testid + generous timeouts).
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, save_screenshot, start_server

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

RUN_TIMEOUT_MS = 240_000  # a cold tiny run (JAX compile + 30 steps + eval) takes ~30 s here
UUID_PATH = re.compile(r"/runs/([0-9a-f-]{36})$")


def generate_traces(page: Page, server: Server, task: str, count: int, seed: int) -> None:
    page.goto(f"{server.url}/traces")
    page.get_by_test_id("generate-task").select_option(task)
    page.get_by_test_id("generate-count").fill(str(count))
    page.get_by_test_id("generate-seed").fill(str(seed))
    page.get_by_test_id("generate-submit").click()
    expect(page.get_by_test_id("generate-result")).to_contain_text(f"Generated {count}")


def build_dataset(page: Page, server: Server, name: str, task: str, expected_count: int) -> str:
    page.get_by_test_id("nav-datasets").click()
    expect(page).to_have_url(f"{server.url}/datasets")
    page.get_by_test_id("dataset-name").fill(name)
    page.get_by_test_id("dataset-version").fill("v1")
    page.get_by_test_id("dataset-task").select_option(task)
    page.get_by_test_id("dataset-holdout").fill("0.2")
    expect(page.get_by_test_id("preview-count")).to_have_attribute(
        "data-count", str(expected_count)
    )
    save_screenshot(page, "datasets")
    page.get_by_test_id("dataset-build-submit").click()
    expect(page.get_by_test_id("dataset-manifest")).to_be_visible()
    expect(page.get_by_test_id("dataset-trace-count")).to_have_text(str(expected_count))
    return page.url.rsplit("/", 1)[-1]


def submit_run(
    page: Page, dataset_key: str, *, check_validation: bool = False, **params: int
) -> str:
    page.get_by_test_id("dataset-new-run").click()
    expect(page.get_by_test_id("new-run-form")).to_be_visible()
    expect(page.get_by_test_id("run-dataset")).to_have_value(dataset_key)
    if check_validation:
        # Values outside the API's limits are flagged next to their fields.
        page.get_by_test_id("run-max_steps").fill("0")
        page.get_by_test_id("run-batch_size").fill("100000")
        page.get_by_test_id("run-submit").click()
        expect(page.get_by_test_id("field-error-max_steps")).to_contain_text(
            "greater than or equal to 1"
        )
        expect(page.get_by_test_id("field-error-batch_size")).to_be_visible()
        save_screenshot(page, "new-run-validation")
    for name, value in params.items():
        page.get_by_test_id(f"run-{name}").fill(str(value))
    save_screenshot(page, "new-run")
    page.get_by_test_id("run-submit").click()
    expect(page).to_have_url(UUID_PATH)
    # The run page has loaded the run (on a loaded machine a click before that can land on
    # a tab bar that is about to be re-rendered).
    expect(page.get_by_test_id("status-badge")).to_be_visible(timeout=15_000)
    match = UUID_PATH.search(page.url)
    assert match
    return match.group(1)


def test_traces_dataset_run_flow(page: Page, server: Server) -> None:
    generate_traces(page, server, "high_card_duel", count=40, seed=7)
    rows = page.get_by_test_id("trace-row")
    expect(rows).to_have_count(20)  # first page
    save_screenshot(page, "traces")

    # Compare two traces side by side.
    page.get_by_test_id("trace-select").nth(0).check()
    page.get_by_test_id("trace-select").nth(1).check()
    page.get_by_test_id("compare-selected").click()
    expect(page.get_by_test_id("compare-summary")).to_be_visible()
    expect(page.get_by_test_id("compare-answer")).to_be_visible()
    query = page.url.split("?", 1)[1]
    diff = httpx.get(f"{server.url}/api/traces/compare?{query}", timeout=10).json()["diff"]
    divergent = page.get_by_test_id("divergent-step")
    if diff["first_divergent_step"] is None:
        expect(divergent).to_have_count(0)
    else:
        expect(divergent).to_have_count(1)
        expect(divergent.locator("th")).to_contain_text(str(diff["first_divergent_step"] + 1))
    save_screenshot(page, "trace-compare")

    # Open one trace and score it.
    page.go_back()
    page.get_by_test_id("trace-link").first.click()
    expect(page.get_by_test_id("trace-step").first).to_be_visible()
    page.get_by_test_id("score-baseline").click()
    expect(page.get_by_test_id("score-row")).to_have_count(1)

    # Freeze a dataset; its manifest page links every export.
    dataset_key = build_dataset(page, server, "e2e-duel", "high_card_duel", expected_count=40)
    save_screenshot(page, "dataset-detail")
    export = page.get_by_test_id("export-tunix_sft-train").get_attribute("href")
    assert export is not None
    exported = httpx.get(server.url + export, timeout=30).text.splitlines()
    manifest = httpx.get(f"{server.url}/api/datasets/{dataset_key}", timeout=10).json()
    assert len(exported) == manifest["train_count"] > 0
    assert "<start_of_turn>model" in json.loads(exported[0])["prompts"]

    # Start a real (tiny) training run from the form.
    run_id = submit_run(
        page, dataset_key, check_validation=True, max_steps=30, save_every_steps=10, batch_size=8
    )
    page.get_by_test_id("tab-logs").click()
    expect(page).to_have_url(re.compile(r"\?tab=logs$"))
    log_lines = page.locator("[data-testid=log-lines] .log-line")
    expect(log_lines.first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_test_id("loss-chart")).to_have_attribute(
        "data-point-count", re.compile(r"^[1-9]\d*$"), timeout=RUN_TIMEOUT_MS
    )
    badge = page.get_by_test_id("status-badge")
    expect(badge).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_test_id("stream-state")).to_have_attribute("data-state", "ended")
    save_screenshot(page, "run-detail-logs")

    # Every stored line is shown exactly once, and the curve has every logged step.
    run = httpx.get(f"{server.url}/api/tunix/runs/{run_id}", timeout=10).json()
    assert run["status"] == "completed"
    seqs = [int(s) for s in log_lines.evaluate_all("els => els.map(e => e.dataset.seq)")]
    assert len(seqs) == len(set(seqs)) == run["log_lines"] > 0
    assert seqs == sorted(seqs)
    losses = httpx.get(f"{server.url}/api/tunix/runs/{run_id}/metrics?name=loss", timeout=10)
    expect(page.get_by_test_id("loss-chart")).to_have_attribute(
        "data-point-count", str(len(losses.json()["data"]))
    )

    # A reload opens the same view (the server answers the deep link with the app).
    page.reload()
    expect(page.get_by_test_id("status-badge")).to_have_attribute("data-status", "completed")
    expect(page.get_by_test_id("live-logs")).to_be_visible()

    page.get_by_test_id("tab-overview").click()
    expect(page.get_by_test_id("run-overview")).to_be_visible()
    expect(page.get_by_test_id("run-step")).to_have_text("30/30")
    save_screenshot(page, "run-detail")
    page.emulate_media(color_scheme="dark")
    save_screenshot(page, "run-detail-dark")
    page.emulate_media(color_scheme="light")

    # Name and tag the run in place; the record and the runs list follow.
    page.get_by_test_id("edit-name").click()
    page.get_by_test_id("name-input").fill("e2e baseline")
    page.get_by_test_id("save-name").click()
    expect(page.get_by_test_id("run-title")).to_have_text("e2e baseline")
    page.get_by_test_id("tag-input").fill("e2e")
    page.get_by_test_id("add-tag").click()
    expect(page.locator("[data-testid=run-tag-chip][data-tag='e2e']")).to_be_visible()
    labelled = httpx.get(f"{server.url}/api/tunix/runs/{run_id}", timeout=10).json()
    assert (labelled["name"], labelled["tags"]) == ("e2e baseline", ["e2e"])

    page.get_by_test_id("tab-eval").click()
    expect(page.get_by_test_id("eval-summary")).to_be_visible()
    # The end-of-run evaluation is a record; its examples are paged 50 at a time.
    expect(page.get_by_test_id("eval-record")).to_be_visible()
    expect(page.get_by_test_id("eval-example")).to_have_count(min(run["eval"]["n"], 50))
    save_screenshot(page, "run-eval")

    # Artifacts: a checkpoint is listed and its download is a tar of the checkpoint.
    page.get_by_test_id("tab-artifacts").click()
    checkpoint = page.locator("[data-testid=artifact-row][data-name^='checkpoints/']").last
    expect(checkpoint).to_be_visible()
    save_screenshot(page, "run-artifacts")
    with page.expect_download() as download_info:
        checkpoint.get_by_test_id("artifact-download").click()
    path = Path(download_info.value.path())
    assert path.stat().st_size > 0
    with tarfile.open(path) as archive:
        assert any(member.isfile() for member in archive.getmembers())
    log_row = page.locator("[data-testid=artifact-row][data-name='logs/output.log']")
    with page.expect_download() as download_info:
        log_row.get_by_test_id("artifact-download").click()
    assert "step 30/30" in Path(download_info.value.path()).read_text()

    page.get_by_test_id("nav-runs").click()
    row = page.locator(f"[data-testid=run-row][data-run-id='{run_id}']")
    expect(row.get_by_test_id("status-badge")).to_have_attribute("data-status", "completed")
    expect(row.get_by_test_id("run-name")).to_have_text("e2e baseline")
    expect(row.get_by_test_id("row-tag")).to_have_text(["e2e"])

    # The dataset's leaderboard ranks the run's evaluation, with its interval and n.
    page.goto(f"{server.url}/datasets/{dataset_key}")
    page.get_by_test_id("dataset-leaderboard-link").click()
    entry = page.locator(f"[data-testid=leaderboard-row][data-run-id='{run_id}']")
    expect(entry).to_have_count(1)
    board = httpx.get(
        f"{server.url}/api/leaderboard", params={"dataset_key": dataset_key}, timeout=10
    ).json()["data"]
    ranked = next(e for e in board if e["run_id"] == run_id)
    assert ranked["n"] > 0
    expect(entry).to_have_attribute("data-evaluation-id", ranked["evaluation_id"])
    expect(entry.get_by_test_id("leaderboard-n")).to_have_text(str(ranked["n"]))
    expect(entry.get_by_test_id("interval-range")).to_be_visible()
    save_screenshot(page, "leaderboard")
    entry.get_by_test_id("leaderboard-run-link").click()
    expect(page).to_have_url(re.compile(rf"/runs/{run_id}$"))


def point_count(page: Page) -> int:
    return int(page.get_by_test_id("loss-chart").get_attribute("data-point-count") or 0)


def shown_seqs(page: Page) -> list[int]:
    lines = page.locator("[data-testid=log-lines] .log-line")
    return [int(s) for s in lines.evaluate_all("els => els.map(e => e.dataset.seq)")]


def test_live_logs_reconnect_and_cancel(page: Page, server: Server) -> None:
    generate_traces(page, server, "addition", count=24, seed=11)
    dataset_key = build_dataset(page, server, "e2e-cancel", "addition", expected_count=24)
    # ~7 min of training here, so it only ends by cancellation: everything below happens while
    # it runs. The trainer prints a line every max_steps/100 steps (every few seconds).
    run_id = submit_run(page, dataset_key, max_steps=2000, save_every_steps=1000, batch_size=8)
    badge = page.get_by_test_id("status-badge")
    expect(badge).to_have_attribute("data-status", "running", timeout=RUN_TIMEOUT_MS)
    page.get_by_test_id("tab-logs").click()
    expect(page.get_by_test_id("stream-state")).to_have_attribute("data-state", "open")

    # The curve grows from live metric events while the run is still running.
    expect(page.get_by_test_id("loss-chart")).to_have_attribute(
        "data-point-count", re.compile(r"^[1-9]\d*$"), timeout=RUN_TIMEOUT_MS
    )
    before = point_count(page)
    page.wait_for_function(
        "n => Number(document.querySelector('[data-testid=loss-chart]').dataset.pointCount) > n",
        arg=before,
        timeout=RUN_TIMEOUT_MS,
    )
    expect(badge).to_have_attribute("data-status", "running")
    save_screenshot(page, "run-detail-live")

    # Reconnect resumes after the last seq: lines keep coming, none twice.
    lines_before = len(shown_seqs(page))
    page.get_by_test_id("reconnect-logs").click()
    expect(page.get_by_test_id("stream-state")).to_have_attribute("data-state", "open")
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=log-lines] .log-line').length > n",
        arg=lines_before,
        timeout=RUN_TIMEOUT_MS,
    )
    seqs = shown_seqs(page)
    assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs)

    # Cancel: dismissing the dialog keeps the run going; confirming cancels it.
    page.get_by_test_id("cancel-run").click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_be_visible()
    page.get_by_test_id("confirm-dialog-dismiss").click()
    expect(dialog).to_be_hidden()
    expect(badge).to_have_attribute("data-status", "running")
    page.get_by_test_id("cancel-run").click()
    page.get_by_test_id("confirm-dialog-confirm").click()
    expect(badge).to_have_attribute("data-status", "cancelled", timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_test_id("stream-state")).to_have_attribute("data-state", "ended")
    expect(page.get_by_test_id("cancel-run")).to_have_count(0)
    expect(page.get_by_test_id("retry-run")).to_be_visible()
    run = httpx.get(f"{server.url}/api/tunix/runs/{run_id}", timeout=10).json()
    assert run["status"] == "cancelled"
    seqs = shown_seqs(page)
    assert len(seqs) == len(set(seqs)) == run["log_lines"]
    save_screenshot(page, "run-detail-cancelled")

    page.goto(f"{server.url}/runs?status=cancelled")
    rows = page.get_by_test_id("run-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-run-id", run_id)
    page.get_by_test_id("filter-status").select_option("")
    expect(page).to_have_url(f"{server.url}/runs")
    all_runs = httpx.get(f"{server.url}/api/tunix/runs", timeout=10).json()["data"]
    expect(page.get_by_test_id("run-row")).to_have_count(len(all_runs))
    save_screenshot(page, "runs")


def test_api_offline_shows_error_banner(page: Page, tmp_path: Path) -> None:
    server = start_server(tmp_path / "home")
    try:
        # A deep link to something that does not exist: the API's 404 message, not a blank page.
        page.goto(f"{server.url}/runs/00000000-0000-4000-8000-000000000000?tab=logs")
        expect(page.get_by_test_id("error-banner").first).to_contain_text("HTTP 404")
        expect(page.get_by_test_id("live-logs")).to_have_count(0)
        page.goto(f"{server.url}/runs")
        expect(page.get_by_test_id("runs-table")).to_be_visible()
        expect(page.get_by_test_id("error-banner")).to_have_count(0)
    finally:
        server.stop()
    # The page is loaded; every API call now fails to connect.
    page.get_by_test_id("nav-datasets").click()
    expect(page.get_by_test_id("error-banner").first).to_be_visible()
    expect(page.get_by_test_id("error-banner").first).to_contain_text(
        "Cannot reach the tunix-rt API"
    )
    expect(page.get_by_test_id("datasets-page")).to_be_visible()  # the page, not a blank screen
    expect(page.get_by_test_id("health")).to_have_attribute("data-online", "false")
    save_screenshot(page, "api-offline")


def test_api_token_from_settings(page: Page, tmp_path: Path) -> None:
    token = "e2e-secret-token"
    server = start_server(tmp_path / "home", {"TUNIX_RT_API_TOKEN": token})
    try:
        page.goto(f"{server.url}/traces")
        expect(page.get_by_test_id("error-banner").first).to_contain_text("API token")
        page.get_by_test_id("settings-toggle").click()
        page.get_by_test_id("token-input").fill(token)
        page.get_by_test_id("token-save").click()
        expect(page.get_by_test_id("traces-empty")).to_be_visible()
        expect(page.get_by_test_id("error-banner")).to_have_count(0)
        generate_traces(page, server, "multiplication", count=5, seed=3)
        expect(page.get_by_test_id("trace-row")).to_have_count(5)
        dataset_key = build_dataset(page, server, "e2e-token", "multiplication", expected_count=5)
        # Links cannot send headers: they carry the token as ?access_token=.
        href = page.get_by_test_id("export-trace-all").get_attribute("href")
        assert href is not None and f"access_token={token}" in href
        exported = httpx.get(server.url + href, timeout=10)
        assert exported.status_code == 200 and len(exported.text.splitlines()) == 5
        denied = httpx.get(f"{server.url}/api/datasets/{dataset_key}", timeout=10)
        assert denied.status_code == 401
    finally:
        server.stop()


def test_upload_jsonl_reports_bad_lines(page: Page, server: Server, tmp_path: Path) -> None:
    def trace(answer: str) -> str:
        steps = [{"i": 0, "type": "reasoning", "content": "think"}]
        payload = {
            "trace_version": "1",
            "prompt": "2+2?",
            "final_answer": answer,
            "steps": steps,
            "meta": {"task": "e2e-upload", "source": "upload"},
        }
        return json.dumps(payload)

    lines = [trace("4"), "{broken json", trace("5"), trace(""), trace("6")]
    upload = tmp_path / "traces.jsonl"
    upload.write_text("\n".join(lines) + "\n")
    page.goto(f"{server.url}/traces")
    page.get_by_test_id("upload-input").set_input_files(str(upload))
    result = page.get_by_test_id("upload-result")
    expect(result).to_contain_text("Imported 3 traces, 2 lines rejected")
    errors = page.get_by_test_id("upload-errors").locator("li")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("line 2: invalid JSON")
    expect(errors.nth(1)).to_contain_text("line 4: final_answer")
    stored = httpx.get(f"{server.url}/api/traces?source=upload", timeout=10).json()["data"]
    assert sorted(t["final_answer_preview"] for t in stored) == ["4", "5", "6"]
