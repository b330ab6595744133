"""The training child on tiny Hugging Face checkpoints made by transformers (tests/fixtures/hf):
a spec whose model is {family, path} trains (LoRA and full fine-tune) and checkpoints on
CPU with their own tokenizer and chat template, and are evaluated; a config.json that
disagrees with the weights, or a tokenizer with more ids than the embedding, stops the dry
run (exit 2)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.training.conftest import metric_losses, run_child
from tests.training.datasets import read_events, write_dataset, write_spec

pytestmark = [pytest.mark.slow, pytest.mark.training]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hf"
QUICK = {"max_steps": 4, "batch_size": 4, "save_every_steps": 4, "learning_rate": 1e-3}
QUICK_EVAL = {"max_examples": 2, "max_new_tokens": 6}


def train_spec(run_dir: Path, name: str, family: str, jax_cache_dir: str, **hp: Any) -> Path:
    write_dataset(run_dir, "high_card_duel", train_count=16, holdout_count=2, seed=5)
    return write_spec(
        run_dir,
        model={"family": family, "path": str(FIXTURES / name)},
        tokenizer={"kind": "hf", "path": str(FIXTURES / name)},
        hyperparameters={**QUICK, **hp},
        evaluation=QUICK_EVAL,
        jax_cache_dir=jax_cache_dir,
    )


@pytest.mark.parametrize("lora_rank", [4, None], ids=["lora", "full"])
def test_llama3_checkpoint_trains_and_checkpoints(
    tmp_path: Path, jax_cache_dir: str, lora_rank: int | None
) -> None:
    run_dir = tmp_path / "llama3"
    spec = train_spec(run_dir, "llama3", "llama3", jax_cache_dir, lora_rank=lora_rank)
    result = run_child(spec, timeout_s=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("(LoRA)" in result.stdout) == (lora_rank is not None)
    losses = metric_losses(run_dir)
    assert sorted(losses) == [1, 2, 3, 4]
    assert all(math.isfinite(v) and v > 0 for v in losses.values())
    assert (run_dir / "checkpoints" / "4").is_dir()
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["summary"]["n"] == 2
    assert all(isinstance(row["generated"], str) for row in report["examples"])


def test_dry_run_refuses_a_config_that_disagrees_with_the_weights(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(FIXTURES / "llama3", model)
    config = json.loads((model / "config.json").read_text())
    config["hidden_size"] = 48
    (model / "config.json").write_text(json.dumps(config))
    run_dir = tmp_path / "run"
    write_dataset(run_dir, "high_card_duel", train_count=4, holdout_count=1)
    spec = write_spec(run_dir, dry_run=True, model={"family": "llama3", "path": str(model)})
    result = run_child(spec, timeout_s=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "model.embed_tokens.weight has shape [512, 64]" in result.stderr
    assert "implies [512, 48]" in result.stderr
    assert not (run_dir / "dry_run.json").exists()
    assert read_events(run_dir)[-1]["event"] == "error"


def test_dry_run_counts_the_checkpoint_parameters(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_dataset(run_dir, "high_card_duel", train_count=4, holdout_count=1)
    model = {"family": "qwen3", "path": str(FIXTURES / "qwen3_untied")}
    tokenizer = {"kind": "hf", "path": model["path"]}
    spec = write_spec(run_dir, dry_run=True, model=model, tokenizer=tokenizer)
    result = run_child(spec, timeout_s=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((run_dir / "dry_run.json").read_text())
    assert report["valid"] is True and report["parameter_count"] == 170_528
    assert report["tokenizer"] == {
        "kind": "tokenizers",
        "vocab_size": 403,
        "bos_id": None,
        "eos_ids": [402],
        "pad_id": 400,
        "stop_ids": [402],
        "chat_template": True,
        "embedding_rows": 512,
        "format": "chat_template",
    }


def test_dry_run_refuses_a_tokenizer_larger_than_the_embedding(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(FIXTURES / "qwen3_tied", model)
    tokenizer = tmp_path / "big-tokenizer"
    tokenizer.mkdir()
    from tokenizers import Tokenizer

    big = Tokenizer.from_file(str(model / "tokenizer.json"))
    big.add_tokens([f"<extra_{n}>" for n in range(200)])  # ids 403..602 > 512 rows
    big.save(str(tokenizer / "tokenizer.json"))
    shutil.copy(model / "tokenizer_config.json", tokenizer / "tokenizer_config.json")
    run_dir = tmp_path / "run"
    write_dataset(run_dir, "high_card_duel", train_count=4, holdout_count=1)
    for dry_run in (True, False):
        spec = write_spec(
            run_dir,
            dry_run=dry_run,
            model={"family": "qwen3", "path": str(model)},
            tokenizer={"kind": "hf", "path": str(tokenizer)},
        )
        result = run_child(spec, timeout_s=120)
        assert result.returncode == 2, result.stderr[-2000:]
        assert "tokenizer has 603 ids but the model's embedding has 512 rows" in result.stderr
        assert read_events(run_dir)[-1]["event"] == "error"
    assert not (run_dir / "dry_run.json").exists()


def test_a_trained_tokenizer_is_refused_for_a_model_with_its_own(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_dataset(run_dir, "high_card_duel", train_count=4, holdout_count=1)
    model = {"family": "llama3", "path": str(FIXTURES / "llama3")}
    spec = write_spec(run_dir, dry_run=True, model=model)  # sentencepiece_train
    result = run_child(spec, timeout_s=120)
    assert result.returncode == 2
    assert "has its own tokenizer" in result.stderr
