"""Retention's pure parts: the keep-set, the best step, the policy a run request implies."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tunix_rt.runs.best import check_best_metric, choose_best, keep_steps
from tunix_rt.runs.retention import Policy, policy_of
from tunix_rt.runs.schema import RunRequest


def test_keep_set_is_latest_k_plus_best_plus_pinned() -> None:
    steps = [10, 20, 30, 40, 50]
    assert keep_steps(steps, 2, None, []) == {40, 50}
    assert keep_steps(steps, 2, 10, []) == {10, 40, 50}
    assert keep_steps(steps, 2, 10, [30]) == {10, 30, 40, 50}
    assert keep_steps(steps, 1, 50, []) == {50}  # the best may also be the latest
    # A best or a pin of a step that has no checkpoint keeps nothing extra.
    assert keep_steps(steps, 1, 35, [25, 60]) == {50}
    assert keep_steps([], 3, 10, [10]) == set()
    assert keep_steps(steps, 10, None, []) == set(steps)


def test_best_is_max_or_min_and_ties_go_to_the_earliest_step() -> None:
    values = {10: 0.5, 20: 0.75, 30: 0.75, 40: 0.25}
    assert choose_best(values, "max") == (20, 0.75)
    assert choose_best(values, "min") == (40, 0.25)
    assert choose_best({10: 0.0, 20: 0.0}, "max") == (10, 0.0)
    assert choose_best({}, "max") is None


def test_best_metric_names() -> None:
    for good in ("loss", "perplexity", "eval/exact_match", "eval/exact_match/yes", "eval/a:b"):
        assert check_best_metric(good) == good
    for bad in ("accuracy", "eval/", "eval/has space", "eval/" + "x" * 60, "learning_rate"):
        with pytest.raises(ValueError, match="best_metric"):
            check_best_metric(bad)


def test_run_request_fills_best_metric_and_mode() -> None:
    plain = RunRequest(dataset_key="d")
    assert plain.best_metric is None and plain.best_mode is None
    evaluating = RunRequest(dataset_key="d", eval_every_steps=10)
    assert (evaluating.best_metric, evaluating.best_mode) == ("eval/exact_match", "max")
    at_ckpt = RunRequest(dataset_key="d", eval_at_checkpoints=True)
    assert (at_ckpt.best_metric, at_ckpt.best_mode) == ("eval/exact_match", "max")
    loss = RunRequest(dataset_key="d", best_metric="loss")
    assert loss.best_mode == "min"
    chosen = RunRequest(dataset_key="d", best_metric="loss", best_mode="max")
    assert chosen.best_mode == "max"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"best_metric": "accuracy"}, "should match pattern"),
        ({"best_metric": "eval/exact_match"}, "needs eval_every_steps or eval_at_checkpoints"),
        ({"best_mode": "max"}, "best_mode needs best_metric"),
        ({"best_metric": "loss", "best_mode": "up"}, "'max' or 'min'"),
    ],
)
def test_run_request_rejects_bad_best_settings(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RunRequest.model_validate({"dataset_key": "d", **fields})


def test_policy_of_a_stored_request_applies_the_same_defaults() -> None:
    assert policy_of({}) == Policy(keep_latest=2, metric=None, mode="max")
    assert policy_of({"eval_every_steps": 5, "keep_checkpoints": 3}) == Policy(
        3, "eval/exact_match", "max"
    )
    assert policy_of({"best_metric": "perplexity"}) == Policy(2, "perplexity", "min")
    stored = RunRequest(dataset_key="d", eval_at_checkpoints=True, keep_checkpoints=1)
    assert policy_of(stored.model_dump(mode="json", exclude_none=True)) == Policy(
        1, "eval/exact_match", "max"
    )
