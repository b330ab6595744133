"""The Optuna side of sweeps: a study rebuilt from recorded trials asks reproducibly, the
pruners stop a clearly worse running trial, and what they record survives a rebuild."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tunix_rt.sweeps import search
from tunix_rt.sweeps.schema import SweepRequest


def request(**overrides: Any) -> SweepRequest:
    body: dict[str, Any] = {
        "dataset_key": "d-v1",
        "base": {"max_steps": 8, "eval_every_steps": 2},
        "space": {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "batch_size": {"type": "categorical", "choices": [8, 16]},
            "max_steps": {"type": "int", "low": 4, "high": 8, "step": 2},
        },
        "n_trials": 8,
        "max_parallel": 2,
        "seed": 1,
    }
    body.update(overrides)
    return SweepRequest.model_validate(body)


def complete(number: int, lr: float, value: float) -> search.TrialRecord:
    curve = {2: value / 4, 4: value / 2, 6: value * 0.75, 8: value}
    params = {"learning_rate": lr, "batch_size": 8, "max_steps": 8}
    return search.TrialRecord(number, params, "complete", value, curve)


def ask(req: SweepRequest, records: list[search.TrialRecord]) -> dict[str, Any]:
    study = search.build_study("sweep-x", req, 1, records)
    params, _attrs = search.ask_params(study, req)
    return params


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_a_rebuilt_study_asks_the_same_params(sampler: str) -> None:
    req = request(sampler=sampler)
    history = [complete(i, 10 ** -(1 + i / 2), 0.1 * i) for i in range(5)]
    first = ask(req, history)
    assert first == ask(req, history)  # the same rows: the same suggestion
    assert first != ask(req, [*history, complete(5, 0.01, 0.9)])  # history moves it
    assert 1e-4 <= first["learning_rate"] <= 1e-1
    assert first["batch_size"] in (8, 16) and first["max_steps"] in (4, 6, 8)


def test_grid_covers_every_point_once_across_rebuilds() -> None:
    req = request(
        sampler="grid",
        space={
            "batch_size": {"type": "categorical", "choices": [8, 16]},
            "max_steps": {"type": "int", "low": 4, "high": 6, "step": 2},
        },
    )
    assert req.n_trials == 4
    records: list[search.TrialRecord] = []
    for number in range(4):
        study = search.build_study("sweep-grid", req, 1, records)
        params, attrs = search.ask_params(study, req)
        json.dumps(attrs)  # persisted in sweeps.trial_meta
        records.append(search.TrialRecord(number, params, "running", system_attrs=attrs))
    points = sorted((r.params["batch_size"], r.params["max_steps"]) for r in records)
    assert points == [(8, 4), (8, 6), (16, 4), (16, 6)]


def test_median_pruner_stops_a_worse_running_trial_only() -> None:
    req = request(pruner="median")
    records = [complete(0, 0.01, 0.9), complete(1, 0.005, 0.8)]
    records.append(search.TrialRecord(2, records[0].params, "running", None, {2: 0.01, 4: 0.02}))
    records.append(search.TrialRecord(3, records[1].params, "running", None, {2: 0.3}))
    records.append(search.TrialRecord(4, records[1].params, "pending"))
    study = search.build_study("sweep-m", req, 1, records)
    stop, attrs = search.prune_decisions(study)
    assert stop == [2]
    assert set(attrs) == {0, 1, 2, 3, 4}


def test_hyperband_records_rungs_that_survive_a_rebuild() -> None:
    req = request(pruner="hyperband", n_trials=20)
    records: list[search.TrialRecord] = []

    def step(state: str) -> list[int]:
        """One controller step: prune decisions, their system attributes persisted."""
        stop, attrs = search.prune_decisions(search.build_study("sweep-h", req, 1, records))
        json.dumps(attrs)
        for record in records:
            record.system_attrs = attrs[record.number]
        return stop

    # Trials that went well, each seen by the controller while it ran, then complete.
    for number in range(8):
        good = complete(number, 0.01, 0.5 + number / 100)
        curve = dict(good.intermediate)
        good.state, good.value, good.intermediate = "running", None, {}
        records.append(good)
        for s in sorted(curve):
            good.intermediate[s] = curve[s]
            step("running")
        good.state, good.value = "complete", curve[8]
    assert any(k.startswith("completed_rung") for r in records for k in r.system_attrs)
    # Bad trials: hyperband stops some of them at a rung.
    stopped: list[int] = []
    for number in range(8, 14):
        records.append(search.TrialRecord(number, records[0].params, "running", None, {}))
    for s in (2, 4, 6):
        for record in records[8:]:
            if record.number not in stopped:
                record.intermediate[s] = 0.0
        stopped += step("running")
        for record in records:
            if record.number in stopped:
                record.state = "pruned"
    assert stopped, "hyperband stops trials far below every finished one"
    rebuilt = search.build_study("sweep-h", req, 1, records)
    assert {t.number: t.system_attrs for t in rebuilt.get_trials()} == {
        r.number: r.system_attrs for r in records
    }


def test_importance_over_complete_trials() -> None:
    req = request()
    records = [complete(i, 10 ** -(1 + i / 2), 0.1 * i) for i in range(5)]
    importances = search.param_importances(search.build_study("sweep-i", req, 1, records))
    assert set(importances) == {"learning_rate", "batch_size", "max_steps"}
    assert sum(importances.values()) == pytest.approx(1.0)
