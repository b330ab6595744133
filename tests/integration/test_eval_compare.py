"""GET /api/compare/evaluations: two evaluations paired by example_key on both databases;
flips, McNemar's p and the flipped examples checked against tables built by hand here."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.eval_rows import Sessions, insert_evaluation
from tunix_rt.evaluations.stats import paired_diff_interval

URL = "/api/compare/evaluations"


async def compare(
    client: httpx.AsyncClient, baseline: uuid.UUID, candidate: uuid.UUID, **params: str
) -> httpx.Response:
    return await client.get(
        URL, params={"baseline": str(baseline), "candidate": str(candidate), **params}
    )


async def test_compare_pairs_by_key_and_counts_flips(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    # Paired table (baseline row, candidate column): both right 9, right->wrong 1 (k0),
    # wrong->right 9 (k10..k18), both wrong 1 (k19). Unpaired rows on either side are left out.
    baseline_rows = [(f"k{i}", i < 10) for i in range(20)] + [("baseline-only", True)]
    candidate_rows = [(f"k{i}", i != 0 and i != 19) for i in range(20)]
    candidate_rows = [("candidate-only", False), *reversed(candidate_rows), ("other", False)]
    baseline = await insert_evaluation(sessions, baseline_rows)
    candidate = await insert_evaluation(sessions, candidate_rows)

    resp = await compare(client, baseline, candidate)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["metric"] == "exact_match"
    assert body["n_paired"] == 20
    assert body["flips"] == {"right_to_wrong": 1, "wrong_to_right": 9}
    assert body["baseline"]["evaluation_id"] == str(baseline)
    assert body["baseline"]["n_evaluated"] == 21
    assert body["baseline"]["correct"] == 10 and body["baseline"]["exact_match"] == 0.5
    assert body["candidate"]["n_evaluated"] == 22
    assert body["candidate"]["correct"] == 18 and body["candidate"]["value"] == 0.9
    assert body["diff"] == pytest.approx(0.4)
    # (C(10,0) + C(10,1)) / 2^10, two-sided
    assert body["mcnemar_p"] == pytest.approx(22 / 1024)
    assert (body["diff_ci_low"], body["diff_ci_high"]) == pytest.approx(
        paired_diff_interval(9, 1, 9, 1)
    )
    assert body["diff_ci_low"] < 0.4 < body["diff_ci_high"]
    examples = body["examples"]
    assert [e["example_key"] for e in examples] == ["k0", *(f"k{i}" for i in range(10, 19))]
    assert [e["direction"] for e in examples] == ["right_to_wrong"] + ["wrong_to_right"] * 9
    first = examples[0]
    assert first["prompt"] == "prompt k0" and first["expected"] == "A"
    assert first["baseline_extracted"] == "A" and first["candidate_extracted"] == "B"
    assert baseline.hex[:8] in first["baseline_generated"]
    assert candidate.hex[:8] in first["candidate_generated"]
    assert body["examples_truncated"] is False


async def test_compare_swapped_sides_mirror(client: httpx.AsyncClient, sessions: Sessions) -> None:
    a = await insert_evaluation(sessions, [("x", True), ("y", True), ("z", False)])
    b = await insert_evaluation(sessions, [("x", False), ("y", True), ("z", False)])
    forward = (await compare(client, a, b)).json()
    backward = (await compare(client, b, a)).json()
    assert forward["flips"] == {"right_to_wrong": 1, "wrong_to_right": 0}
    assert backward["flips"] == {"right_to_wrong": 0, "wrong_to_right": 1}
    assert forward["diff"] == pytest.approx(-1 / 3) and backward["diff"] == pytest.approx(1 / 3)
    assert (backward["diff_ci_low"], backward["diff_ci_high"]) == pytest.approx(
        (-forward["diff_ci_high"], -forward["diff_ci_low"])
    )
    assert forward["mcnemar_p"] == backward["mcnemar_p"] == 1.0


async def test_compare_pairs_repeated_keys_once_each(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    baseline = await insert_evaluation(
        sessions, [("d", True), ("e", True), ("d", True), ("d", False)]
    )
    candidate = await insert_evaluation(sessions, [("d", False), ("d", True)])
    body = (await compare(client, baseline, candidate)).json()
    # d#1 right->wrong, d#2 right->right; the third d and e have no partner.
    assert body["n_paired"] == 2
    assert body["flips"] == {"right_to_wrong": 1, "wrong_to_right": 0}


async def test_compare_caps_flipped_examples(client: httpx.AsyncClient, sessions: Sessions) -> None:
    keys = [f"q{i:03d}" for i in range(250)]
    baseline = await insert_evaluation(sessions, [(k, True) for k in keys])
    candidate = await insert_evaluation(sessions, [(k, False) for k in keys])
    body = (await compare(client, baseline, candidate)).json()
    assert body["flips"]["right_to_wrong"] == 250
    assert len(body["examples"]) == 200 and body["examples_truncated"] is True
    assert [e["example_key"] for e in body["examples"]] == keys[:200]
    assert body["diff"] == -1.0
    assert 0 < body["mcnemar_p"] == pytest.approx(2 / 2**250)


async def test_compare_on_format_ok(client: httpx.AsyncClient, sessions: Sessions) -> None:
    rows = [("f0", True), ("f1", True), ("f2", True)]
    baseline = await insert_evaluation(sessions, rows, format_ok=[True, True, False])
    candidate = await insert_evaluation(sessions, rows, format_ok=[False, False, True])
    body = (await compare(client, baseline, candidate, metric="format_ok")).json()
    assert body["metric"] == "format_ok"
    assert body["flips"] == {"right_to_wrong": 2, "wrong_to_right": 1}
    assert body["baseline"]["exact_match"] == 1.0 == body["candidate"]["exact_match"]
    assert body["baseline"]["value"] == pytest.approx(2 / 3)


async def test_compare_refuses_what_cannot_be_compared(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    done = await insert_evaluation(sessions, [("s", True), ("t", False)])
    elsewhere = await insert_evaluation(sessions, [("u", True)])
    running = await insert_evaluation(sessions, [("s", True)], status="running")
    rescored = await insert_evaluation(sessions, [("s", True)], scorer_version="answer-v0")

    resp = await compare(client, done, elsewhere)
    assert resp.status_code == 422 and "share no example" in resp.text
    resp = await compare(client, done, running)
    assert resp.status_code == 422 and "is running, not completed" in resp.text
    resp = await compare(client, done, rescored)
    assert resp.status_code == 422 and "different scorers" in resp.text
    missing = uuid.uuid4()
    resp = await compare(client, missing, done)
    assert resp.status_code == 404 and f"baseline evaluation {missing} not found" in resp.text
    resp = await client.get(URL, params={"baseline": "nope", "candidate": str(done)})
    assert resp.status_code == 422
    resp = await client.get(URL, params={"baseline": str(done)})
    assert resp.status_code == 422
    resp = await compare(client, done, done, metric="vibes")
    assert resp.status_code == 422
