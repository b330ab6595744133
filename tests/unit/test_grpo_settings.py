"""The run request's GRPO settings (runs/schema.py GRPOSpec) and the spec's (training/spec.py
GRPOSpec) are two models because runs may not import training; they must accept the same
fields, defaults and bounds, or a request the API takes would be refused by the child (or the
other way)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tunix_rt.runs.schema import GRPOSpec as RequestGRPO
from tunix_rt.runs.schema import RunRequest
from tunix_rt.training.spec import GRPOSpec, Spec


def shape(model: type[BaseModel]) -> dict[str, Any]:
    return {
        name: (field.annotation, field.default, sorted(map(repr, field.metadata)))
        for name, field in model.model_fields.items()
    }


def test_request_and_spec_grpo_settings_agree() -> None:
    assert shape(RequestGRPO) == shape(GRPOSpec)


def test_a_requests_grpo_settings_are_a_valid_spec_grpo() -> None:
    request = RunRequest.model_validate(
        {"dataset_key": "d", "algorithm": "grpo", "model_path": "/m", "model_id": "qwen3-0.6b"}
    )
    assert request.grpo is not None
    dumped = request.grpo.model_dump()
    spec = Spec.model_validate({"run_dir": "/tmp/x", "algorithm": "grpo", "grpo": dumped})
    assert spec.grpo == GRPOSpec(**dumped)


def test_more_than_one_update_per_rollout_batch_is_refused() -> None:
    """num_iterations > 1 would count optimiser steps where rewards, rollout files and resume
    count rollout batches: refused until they line up."""
    body = {"dataset_key": "d", "algorithm": "grpo", "model_path": "/m", "model_id": "qwen3-0.6b"}
    with pytest.raises(ValidationError, match="num_iterations"):
        RunRequest.model_validate({**body, "grpo": {"num_iterations": 2}})
    with pytest.raises(ValidationError, match="num_iterations"):
        Spec.model_validate(
            {"run_dir": "/tmp/x", "algorithm": "grpo", "grpo": {"num_iterations": 2}}
        )
