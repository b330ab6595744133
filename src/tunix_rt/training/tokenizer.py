"""Tokenizers of a run and how examples become token ids.

Three sources (spec.tokenizer.kind):

- `sentencepiece_train`: a SentencePiece model trained on the dataset (from-scratch presets);
- `file`: a tokenizer.model (or tokenizer.json) file, no chat template;
- `hf`: a model directory's own tokenizer (tokenizer.json or tokenizer.model), special
  tokens and chat template (training/hf_tokenizer.py).

With a chat template, an example is rendered as transformers renders it: the prompt is the
conversation before the answer with the generation prompt, the full text adds the
assistant's answer; the loss covers the assistant's tokens only, up to and including the
first stop token (the end of its turn), and the sequence ends there. Without one (the
presets), examples keep Gemma's turn format: BOS + prompt + response, each encoded apart, so
training sees exactly the prompt tokens the sampler produces at evaluation time.

`load_tokenizer(spec_or_path)` is the public entry point for other programs (export,
generate): it returns a `Tokenizer` (encode, decode, bos_id, eos_ids, pad_id, stop_ids,
vocab_size, render_chat).
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunix_rt.training.data import END_OF_TURN, MODEL_TURN, USER_TURN, Example
from tunix_rt.training.hf_tokenizer import (
    SentencePieceTokenizer,
    Tokenizer,
    TokenizerError,
    has_tokenizer,
    load_sentencepiece,
    load_tokenizer_dir,
    load_tokenizer_file,
)

if TYPE_CHECKING:
    from tunix_rt.training.spec import Spec

__all__ = [
    "TOKENIZER_FILE",
    "EncodedExample",
    "SamplerTokenizer",
    "Tokenizer",
    "TokenizerError",
    "check_vocab",
    "encode_example",
    "encode_prompt",
    "load_tokenizer",
    "prepare_tokenizer",
    "prompt_text",
    "stop_token_ids",
    "user_prompt_text",
]

SPECIAL_SYMBOLS = ["<start_of_turn>", "<end_of_turn>"]
TOKENIZER_FILE = "tokenizer.model"


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


def train_tokenizer(examples: list[Example], vocab_size: int, output: Path) -> Tokenizer:
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


def load_tokenizer(source: Spec | Path | str) -> Tokenizer:
    """A tokenizer from a directory (a Hugging Face checkpoint: its own tokenizer, special
    tokens and chat template), a tokenizer file, or a run's spec (what that run trains with:
    its run_dir's tokenizer.model when there is one, else the spec's tokenizer source)."""
    if isinstance(source, str | Path):
        path = Path(source)
        return load_tokenizer_dir(path) if path.is_dir() else load_tokenizer_file(path)
    spec = source
    own = _own_tokenizer_dir(spec)
    if own is not None:
        return load_tokenizer_dir(own)
    kept = spec.root / TOKENIZER_FILE
    if kept.is_file():
        return load_tokenizer_file(kept)
    if spec.tokenizer.kind == "sentencepiece_train":
        raise TokenizerError(f"run {spec.root} has no trained {TOKENIZER_FILE}")
    return load_tokenizer(Path(spec.tokenizer.path))


def _pretrained_model_tokenizer_dir(spec: Spec) -> Path | None:
    path = getattr(spec.model, "path", None)
    return Path(path) if path and has_tokenizer(Path(path)) else None


def _own_tokenizer_dir(spec: Spec) -> Path | None:
    """The directory whose own tokenizer the run uses: tokenizer kind "hf", or a spec that
    gives no tokenizer for a model directory that has one."""
    if spec.tokenizer.kind == "hf":
        return Path(spec.tokenizer.path)
    if "tokenizer" not in spec.model_fields_set:
        return _pretrained_model_tokenizer_dir(spec)
    return None


def prepare_tokenizer(spec: Spec, train: list[Example]) -> Tokenizer:
    """The run's tokenizer. A trained or file tokenizer is kept in run_dir/tokenizer.model
    (a resumed run reuses it, so token ids stay the ones the checkpoint was trained with);
    a model directory's own tokenizer is read from that directory (kind "hf", or no
    tokenizer given for a model directory that has one).

    A pretrained model whose directory has its own tokenizer refuses a trained one: its
    embedding rows are indexed by its own tokenizer's ids."""
    tokenizer = spec.tokenizer
    own_dir = _own_tokenizer_dir(spec)
    if own_dir is not None:
        return load_tokenizer_dir(own_dir)
    own = _pretrained_model_tokenizer_dir(spec)
    if tokenizer.kind == "sentencepiece_train" and own is not None:
        raise TokenizerError(
            f"model.path {own} has its own tokenizer: use tokenizer "
            f'{{"kind": "hf", "path": "{own}"}}, not a trained one'
        )
    target = spec.root / TOKENIZER_FILE
    if target.is_file():
        return load_tokenizer_file(target)
    if tokenizer.kind == "file":
        source = Path(tokenizer.path)
        if source.suffix == ".json":
            return load_tokenizer_file(source)
        load_sentencepiece(source)
        shutil.copyfile(source, target)
        return load_tokenizer_file(target)
    if tokenizer.kind == "hf":
        return load_tokenizer_dir(Path(tokenizer.path))
    return train_tokenizer(train, tokenizer.vocab_size, target)


def embedding_rows(spec: Spec) -> int | None:
    """Rows of the model's embedding (None for presets: they are built to the tokenizer)."""
    model = spec.model
    path = getattr(model, "path", None)
    if path is None:
        return None
    from tunix_rt.hf import config as hf_config

    directory = Path(path)
    if hf_config.has_config(directory):
        try:
            return hf_config.architecture_of(hf_config.read_config(directory)).vocab_size
        except hf_config.CheckpointError:
            return None
    preset = getattr(model, "config_preset", None)
    if preset is None:
        return None
    try:
        from tunix_rt.training import presets

        config, _ = presets._pretrained_config(model.family, preset)  # type: ignore[union-attr]
    except ImportError:
        return None
    rows = getattr(config, "num_embed", None) or getattr(config, "vocab_size", None)
    return int(rows) if rows else None


def check_vocab(spec: Spec, tokenizer: Tokenizer) -> int | None:
    """Refuses a tokenizer with ids past the model's embedding (TokenizerError, exit 2);
    returns the embedding's rows (None for presets)."""
    rows = embedding_rows(spec)
    if rows is not None and tokenizer.vocab_size > rows:
        raise TokenizerError(
            f"tokenizer has {tokenizer.vocab_size} ids but the model's embedding has "
            f"{rows} rows: ids {rows}..{tokenizer.vocab_size - 1} have no embedding "
            "(use the model's own tokenizer)"
        )
    return rows


def stop_token_ids(tokenizer: Tokenizer) -> list[int]:
    if tokenizer.chat_template is None and isinstance(tokenizer, SentencePieceTokenizer):
        # Gemma's turn format: the end of the turn first, then EOS (as before).
        ids = [i for i in tokenizer.eos_ids]
        end = tokenizer.token_to_id(END_OF_TURN)
        if end is not None and end not in ids:
            ids.insert(0, end)
        return ids
    return list(tokenizer.stop_ids)


def _bos(tokenizer: Tokenizer) -> list[int]:
    return [tokenizer.bos_id] if tokenizer.bos_id is not None and tokenizer.add_bos else []


def prompt_text(tokenizer: Tokenizer, example: Example) -> str:
    """The prompt as the sampler receives it: the chat template's rendering of the
    conversation with the generation prompt, or Gemma's turn format without one."""
    if tokenizer.chat_template is None:
        return example.prompt
    return tokenizer.render_chat(example.chat_messages(), add_generation_prompt=True)


def user_prompt_text(tokenizer: Tokenizer, prompt: str) -> str:
    """A raw user prompt rendered for generation (what `prompt_text` gives for a one-turn
    conversation)."""
    if tokenizer.chat_template is None:
        return f"{USER_TURN}{prompt}{END_OF_TURN}\n{MODEL_TURN}"
    return tokenizer.render_chat([{"role": "user", "content": prompt}], add_generation_prompt=True)


def encode_prompt_text(tokenizer: Tokenizer, text: str) -> list[int]:
    """Ids of a prompt from `prompt_text`: BOS + ids in Gemma's turn format; with a chat
    template the rendered text already holds any BOS (as in transformers'
    apply_chat_template, no special token is added)."""
    if tokenizer.chat_template is None:
        return _bos(tokenizer) + tokenizer.encode(text)
    return tokenizer.encode(text)


def encode_prompt(tokenizer: Tokenizer, prompt: str | Example) -> list[int]:
    """How the sampler tokenizes a prompt, for length planning."""
    text = prompt_text(tokenizer, prompt) if isinstance(prompt, Example) else prompt
    return encode_prompt_text(tokenizer, text)


def encode_example(tokenizer: Tokenizer, example: Example) -> EncodedExample:
    if tokenizer.chat_template is None:
        prompt = _bos(tokenizer) + tokenizer.encode(example.prompt)
        response = tokenizer.encode(example.response)
        return EncodedExample(tokens=prompt + response, prompt_length=len(prompt))
    messages = example.chat_messages()
    head = tokenizer.render_chat(messages, add_generation_prompt=True)
    full = tokenizer.render_chat(
        [*messages, {"role": "assistant", "content": example.assistant_text()}],
        add_generation_prompt=False,
    )
    if not full.startswith(head):
        raise TokenizerError(
            f"example {example.id}: the chat template's rendering with the answer does not "
            "start with its generation prompt, so the answer's tokens cannot be told apart"
        )
    prompt = tokenizer.encode(head)
    response = tokenizer.encode(full[len(head) :])
    stops = set(stop_token_ids(tokenizer))
    end = next((n + 1 for n, token in enumerate(response) if token in stops), len(response))
    return EncodedExample(tokens=prompt + response[:end], prompt_length=len(prompt))


class SamplerTokenizer:
    """What Tunix's Sampler (through its TokenizerAdapter) needs: encode, decode, bos_id,
    eos_id, pad_id. `encode` returns the prompt's full ids (BOS included where the format
    has one), so `bos_id` is None: the sampler adds nothing. `decode` drops ids past the
    tokenizer (the embedding may have spare rows)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self._stops = stop_token_ids(tokenizer)

    def encode(self, text: str, **_: Any) -> list[int]:
        return encode_prompt_text(self.tokenizer, text)

    def decode(self, ids: Sequence[int], **_: Any) -> str:
        return self.tokenizer.decode(list(ids))

    def bos_id(self) -> int | None:
        return None

    def eos_id(self) -> int:
        return self._stops[-1] if self._stops else self.tokenizer.pad_id

    def pad_id(self) -> int:
        return self.tokenizer.pad_id
