"""The training child on tiny Hugging Face checkpoints made by transformers (tests/fixtures/hf):
a spec whose model is {family, path} trains (LoRA and full fine-tune, every family: gemma3,
qwen2, qwen3, llama3) and checkpoints on CPU with its own tokenizer and chat template (the
child prints the first prompt as rendered), and is evaluated; a config.json that
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
STEPS = 2
QUICK = {"max_steps": STEPS, "batch_size": 4, "save_every_steps": STEPS, "learning_rate": 1e-3}
QUICK_EVAL = {"max_examples": 2, "max_new_tokens": 4}


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


# family -> (fixture directory, the start of its first training prompt as its own chat
# template renders it: the child prints it; Gemma's template adds the "<bos>" text that the
# template-less Gemma turn format does not have).
FAMILIES = {
    "gemma3": ("gemma3", "<bos><start_of_turn>user\\n"),
    "qwen2": ("qwen2", "<|im_start|>user\\n"),
    "qwen3": ("qwen3_tied", "<|im_start|>user\\n"),
    "llama3": ("llama3", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\\n\\n"),
}


# qwen3 with LoRA trains through the API and a worker instead (test_hf_through_worker.py:
# the same child, the same checks), one cold child less.
# The case whose train step compiles are counted (LoRA: qwix's new weights and the
# optimizer's scalars both started uncommitted).
COUNT_COMPILES = ("llama3", 4)
COMBINATIONS = [
    (family, rank)
    for family in sorted(FAMILIES)
    for rank in (4, None)
    if (family, rank) != ("qwen3", 4)
]


@pytest.mark.parametrize(
    ("family", "lora_rank"),
    COMBINATIONS,
    ids=[f"{family}-{'lora' if rank else 'full'}" for family, rank in COMBINATIONS],
)
def test_checkpoint_of_each_family_trains_with_its_own_chat_template(
    tmp_path: Path,
    jax_cache_dir: str,
    family: str,
    lora_rank: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name, rendered = FAMILIES[family]
    run_dir = tmp_path / name
    dump = tmp_path / "xla-dump"
    if (family, lora_rank) == COUNT_COMPILES:
        # XLA names every train step it compiles in its dump; a fresh compilation cache
        # makes it compile here rather than load another test's program.
        jax_cache_dir = str(tmp_path / "jax-cache")
        flags = f"--xla_dump_to={dump} --xla_dump_hlo_module_re=.*train_step.*"
        monkeypatch.setenv("XLA_FLAGS", flags)
    spec = train_spec(run_dir, name, family, jax_cache_dir, lora_rank=lora_rank)
    result = run_child(spec, timeout_s=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("(LoRA)" in result.stdout) == (lora_rank is not None)
    marker = "prompt format chat_template, first training prompt as the model sees it: "
    shown = [line for line in result.stdout.splitlines() if line.startswith(marker)]
    assert len(shown) == 1, result.stdout[-3000:]
    assert shown[0][len(marker) + 1 :].startswith(rendered), shown[0]  # after repr's quote
    losses = metric_losses(run_dir)
    assert sorted(losses) == list(range(1, STEPS + 1))
    assert all(math.isfinite(v) and v > 0 for v in losses.values())
    assert (run_dir / "checkpoints" / str(STEPS)).is_dir()
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["summary"]["n"] == 2 and report["summary"]["step"] == STEPS
    assert all(isinstance(row["generated"], str) for row in report["examples"])
    if (family, lora_rank) == COUNT_COMPILES:
        # One compile for every step: the second no longer recompiles for arguments the
        # first returned committed (sft.commit_train_state).
        compiled = {p.name.split(".")[0] for p in dump.glob("module_*.jit__train_step.*")}
        assert len(compiled) == 1, sorted(compiled)


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
