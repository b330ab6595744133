"""Tokenizer: SentencePiece trained on the dataset (Gemma chat-template options) or a file.

Examples are encoded as BOS + prompt + response, the prompt and response encoded apart so
that training sees exactly the prompt tokens the sampler will produce at evaluation time.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunix_rt.training.data import END_OF_TURN, Example

if TYPE_CHECKING:
    from tunix_rt.training.spec import Spec

SPECIAL_SYMBOLS = ["<start_of_turn>", "<end_of_turn>"]
TOKENIZER_FILE = "tokenizer.model"


class TokenizerError(ValueError):
    """The tokenizer cannot be trained or loaded."""


@dataclass(frozen=True)
class EncodedExample:
    tokens: list[int]
    prompt_length: int  # tokens before the response (BOS included); loss starts here


def _import_sentencepiece() -> Any:
    import sentencepiece as spm

    return spm


def _training_lines(examples: list[Example]) -> list[str]:
    # SentencePiece trains on lines; newlines inside a record become byte-fallback pieces.
    lines: list[str] = []
    for example in examples:
        lines.extend(part for part in (example.prompt + example.response).split("\n") if part)
    return lines


def train_tokenizer(examples: list[Example], vocab_size: int, output: Path) -> Any:
    spm = _import_sentencepiece()
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(_training_lines(examples)),
            model_writer=model,
            vocab_size=vocab_size,
            model_type="bpe",
            normalization_rule_name="identity",
            add_dummy_prefix=False,
            remove_extra_whitespaces=False,
            split_digits=True,
            byte_fallback=True,
            pad_id=0,
            eos_id=1,
            bos_id=2,
            unk_id=3,
            user_defined_symbols=SPECIAL_SYMBOLS,
            hard_vocab_limit=False,
            character_coverage=1.0,
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as exc:
        raise TokenizerError(f"cannot train the SentencePiece tokenizer: {exc}") from exc
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    tmp.write_bytes(model.getvalue())
    tmp.replace(output)
    return load_tokenizer(output)


def load_tokenizer(path: Path) -> Any:
    spm = _import_sentencepiece()
    if not path.is_file():
        raise TokenizerError(f"tokenizer file not found: {path}")
    processor = spm.SentencePieceProcessor()
    try:
        processor.Load(str(path))
    except (OSError, RuntimeError) as exc:
        raise TokenizerError(f"cannot load tokenizer {path}: {exc}") from exc
    return processor


def prepare_tokenizer(spec: Spec, train: list[Example]) -> Any:
    """Trains (or copies) the tokenizer into run_dir/tokenizer.model and loads it.

    A resumed run reuses the tokenizer already in run_dir, so token ids stay the same
    as the ones the checkpoint was trained with.
    """
    target = spec.root / TOKENIZER_FILE
    if target.is_file():
        return load_tokenizer(target)
    tokenizer = spec.tokenizer
    if tokenizer.kind == "file":
        source = Path(tokenizer.path)
        load_tokenizer(source)
        shutil.copyfile(source, target)
        return load_tokenizer(target)
    return train_tokenizer(train, tokenizer.vocab_size, target)


def stop_token_ids(processor: Any) -> list[int]:
    ids = [int(processor.eos_id())]
    end = int(processor.PieceToId(END_OF_TURN))
    if end != int(processor.unk_id()):
        ids.insert(0, end)
    return ids


def encode_example(processor: Any, example: Example) -> EncodedExample:
    bos = [int(processor.bos_id())] if processor.bos_id() >= 0 else []
    prompt = bos + list(processor.EncodeAsIds(example.prompt))
    response = list(processor.EncodeAsIds(example.response))
    return EncodedExample(tokens=prompt + response, prompt_length=len(prompt))


def encode_prompt(processor: Any, prompt: str) -> list[int]:
    """How the sampler tokenizes a prompt (BOS + ids), for length planning."""
    bos = [int(processor.bos_id())] if processor.bos_id() >= 0 else []
    return bos + list(processor.EncodeAsIds(prompt))
