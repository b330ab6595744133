"""A model's own tokenizer: tokenizer.json (the `tokenizers` library) or tokenizer.model
(SentencePiece), its special tokens and its chat template.

`load_tokenizer_dir(DIR)` reads what a Hugging Face checkpoint directory holds:
tokenizer.json (preferred) or tokenizer.model; special tokens from tokenizer_config.json,
special_tokens_map.json and generation_config.json (its eos ids, e.g. Llama 3's list);
the chat template from tokenizer_config.json (or chat_template.jinja).
`load_tokenizer_file(PATH)` wraps a bare tokenizer file (no config, no template).

Every tokenizer here answers the same interface (`Tokenizer`): `encode(text,
add_special_tokens)` gives the ids transformers' tokenizer gives (special token strings in
the text become their ids), `decode(ids)` skips ids past the tokenizer (a model's embedding
may have more rows than the tokenizer has ids: real Qwen has 151,936 vs 151,669), and
`render_chat(messages, add_generation_prompt)` renders the chat template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tunix_rt.training.chat_template import ChatTemplate, ChatTemplateError, template_source

TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_MODEL = "tokenizer.model"
CONFIG_FILES = (
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "chat_template.jinja",
)
# Markers that end a turn in the families' chat templates: generation stops on them even
# when the configured eos is another token (a base model's eos is often <|endoftext|>).
END_OF_TURN_MARKERS = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end|>")
SPECIAL_NAMES = ("bos_token", "eos_token", "pad_token", "unk_token")


class TokenizerError(ValueError):
    """The tokenizer cannot be trained, loaded or used with this model."""


def _token_text(value: object) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return str(value["content"]) or None
    return None


def _ids(value: object) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return []


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenizerError(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


class Tokenizer:
    """The interface every tokenizer of a run answers (see the module docstring)."""

    kind: str  # "sentencepiece" | "tokenizers"
    vocab_size: int  # ids are 0..vocab_size-1
    bos_id: int | None
    eos_ids: tuple[int, ...]
    pad_id: int
    stop_ids: tuple[int, ...]  # generation stops on any of these
    add_bos: bool  # plain-text encoding with special tokens starts with BOS
    chat_template: ChatTemplate | None
    special_tokens: dict[str, str]  # bos_token, eos_token, ... -> their text

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        raise NotImplementedError

    def _decode(self, ids: list[int]) -> str:
        raise NotImplementedError

    def token_to_id(self, token: str) -> int | None:
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`; ids outside the tokenizer (the embedding's spare rows) are dropped."""
        return self._decode([int(i) for i in ids if 0 <= int(i) < self.vocab_size])

    def render_chat(
        self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool
    ) -> str:
        if self.chat_template is None:
            raise TokenizerError("this tokenizer has no chat template")
        try:
            return self.chat_template.render(messages, add_generation_prompt)
        except ChatTemplateError as exc:
            raise TokenizerError(str(exc)) from exc

    def describe(self) -> dict[str, Any]:
        """For dry_run.json and logs."""
        return {
            "kind": self.kind,
            "vocab_size": self.vocab_size,
            "bos_id": self.bos_id,
            "eos_ids": list(self.eos_ids),
            "pad_id": self.pad_id,
            "stop_ids": list(self.stop_ids),
            "chat_template": self.chat_template is not None,
        }

    def _finish(
        self,
        config: Mapping[str, Any],
        generation: Mapping[str, Any],
        template: str | None,
        added_specials: Sequence[str],
        default_pad: int | None,
    ) -> None:
        """Special token ids from the configs, stop ids, pad id and the chat template."""
        specials = {name: _token_text(config.get(name)) for name in SPECIAL_NAMES}
        self.special_tokens = {k: v for k, v in specials.items() if v is not None}
        bos = specials["bos_token"]
        self.bos_id = self.token_to_id(bos) if bos else None
        if self.bos_id is None and not config:
            self.bos_id = next(iter(_ids(generation.get("bos_token_id"))), None)
        eos: list[int] = []
        eos_text = specials["eos_token"]
        if eos_text and self.token_to_id(eos_text) is not None:
            eos.append(self.token_to_id(eos_text) or 0)
        eos.extend(i for i in _ids(generation.get("eos_token_id")) if i not in eos)
        self.eos_ids = tuple(i for i in eos if 0 <= i < self.vocab_size)
        stops = list(self.eos_ids)
        for marker in END_OF_TURN_MARKERS:
            marker_id = self.token_to_id(marker)
            if marker_id is not None and marker_id not in stops and marker in added_specials:
                stops.append(marker_id)
        self.stop_ids = tuple(stops)
        self.pad_id = self._choose_pad(specials, generation, template, added_specials, default_pad)
        if template is not None:
            self.chat_template = ChatTemplate.compile(template, self.special_tokens)
        else:
            self.chat_template = None

    def _choose_pad(
        self,
        specials: Mapping[str, str | None],
        generation: Mapping[str, Any],
        template: str | None,
        added_specials: Sequence[str],
        default_pad: int | None,
    ) -> int:
        """The configured pad token; else a special token that no rendered conversation
        holds (padding is recognised by its id, so it must never occur inside a sequence:
        not BOS, no stop id, not named by the template); else id 0."""
        pad_text = specials["pad_token"]
        if pad_text and self.token_to_id(pad_text) is not None:
            return self.token_to_id(pad_text) or 0
        configured = _ids(generation.get("pad_token_id"))
        if configured and 0 <= configured[0] < self.vocab_size:
            return configured[0]
        if default_pad is not None:
            return default_pad
        for token in added_specials:
            token_id = self.token_to_id(token)
            if token_id is None or token_id == self.bos_id or token_id in self.stop_ids:
                continue
            if template is not None and token in template:
                continue
            return token_id
        return 0


class TokenizersTokenizer(Tokenizer):
    """tokenizer.json through the `tokenizers` library."""

    kind = "tokenizers"

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        self.vocab_size = max(vocab.values()) + 1 if vocab else 0
        probe = tokenizer.encode("", add_special_tokens=True).ids
        self.add_bos = bool(probe)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids)

    def _decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=False))

    def token_to_id(self, token: str) -> int | None:
        value = self._tokenizer.token_to_id(token)
        return None if value is None else int(value)

    def added_special_tokens(self) -> list[str]:
        decoder = self._tokenizer.get_added_tokens_decoder()
        return [decoder[i].content for i in sorted(decoder) if decoder[i].special]


class SentencePieceTokenizer(Tokenizer):
    """tokenizer.model through SentencePiece. Special token strings in the text (the chat
    template's `<bos>`) become their ids, as transformers' Gemma tokenizer does; the model's
    user-defined symbols (`<start_of_turn>`) are matched by SentencePiece itself."""

    kind = "sentencepiece"

    def __init__(self, processor: Any, add_bos: bool = True) -> None:
        self.processor = processor
        self.vocab_size = int(processor.GetPieceSize())
        self.add_bos = add_bos and int(processor.bos_id()) >= 0
        self._specials: dict[str, int] = {}
        self._pattern: re.Pattern[str] | None = None
        for method in ("bos_id", "eos_id", "pad_id", "unk_id"):
            piece_id = int(getattr(processor, method)())
            if piece_id >= 0:
                self._specials[str(processor.IdToPiece(piece_id))] = piece_id

    def add_special_strings(self, tokens: Sequence[str]) -> None:
        for token in tokens:
            piece_id = self.token_to_id(token)
            if piece_id is not None:
                self._specials[token] = piece_id
        self._pattern = None

    def _split_pattern(self) -> re.Pattern[str]:
        if self._pattern is None:
            ordered = sorted(self._specials, key=len, reverse=True)
            self._pattern = re.compile("(" + "|".join(re.escape(t) for t in ordered) + ")")
        return self._pattern

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        with_bos = add_special_tokens and self.add_bos
        ids: list[int] = [int(self.processor.bos_id())] if with_bos else []
        if not self._specials:
            return ids + list(self.processor.EncodeAsIds(text))
        for index, part in enumerate(self._split_pattern().split(text)):
            if index % 2:
                ids.append(self._specials[part])
            elif part:
                ids.extend(self.processor.EncodeAsIds(part))
        return ids

    def _decode(self, ids: list[int]) -> str:
        return str(self.processor.DecodeIds(ids))

    def token_to_id(self, token: str) -> int | None:
        piece_id = int(self.processor.PieceToId(token))
        unk = int(self.processor.unk_id())
        if piece_id == unk and str(self.processor.IdToPiece(unk)) != token:
            return None
        return piece_id

    def user_defined_symbols(self) -> list[str]:
        return [
            str(self.processor.IdToPiece(i))
            for i in range(self.vocab_size)
            if self.processor.IsControl(i)
            or (
                not self.processor.IsByte(i)
                and str(self.processor.IdToPiece(i)).startswith("<")
                and str(self.processor.IdToPiece(i)).endswith(">")
            )
        ]


def load_sentencepiece(path: Path) -> Any:
    import sentencepiece as spm

    if not path.is_file():
        raise TokenizerError(f"tokenizer file not found: {path}")
    processor = spm.SentencePieceProcessor()
    try:
        processor.Load(str(path))
    except (OSError, RuntimeError) as exc:
        raise TokenizerError(f"cannot load tokenizer {path}: {exc}") from exc
    return processor


def _load_tokenizers(path: Path) -> TokenizersTokenizer:
    try:
        from tokenizers import Tokenizer as RawTokenizer
    except ImportError as exc:  # pragma: no cover - a project dependency
        raise TokenizerError("the `tokenizers` package is needed for tokenizer.json") from exc
    try:
        return TokenizersTokenizer(RawTokenizer.from_file(str(path)))
    except Exception as exc:  # the library raises its own Exception subclass
        raise TokenizerError(f"cannot load tokenizer {path}: {exc}") from exc


def has_tokenizer(directory: Path) -> bool:
    return (directory / TOKENIZER_JSON).is_file() or (directory / TOKENIZER_MODEL).is_file()


def tokenizer_files(directory: Path) -> list[Path]:
    """The files of a tokenizer directory that make up the tokenizer (for copying it along
    with an exported model)."""
    names = (TOKENIZER_JSON, TOKENIZER_MODEL, *CONFIG_FILES)
    return [directory / n for n in names if (directory / n).is_file()]


def load_tokenizer_file(path: Path) -> Tokenizer:
    """A bare tokenizer.json or tokenizer.model: no config, no chat template."""
    if path.suffix == ".json":
        hf = _load_tokenizers(path)
        hf._finish({}, {}, None, hf.added_special_tokens(), None)
        return hf
    processor = load_sentencepiece(path)
    sp = SentencePieceTokenizer(processor)
    generation = {"eos_token_id": int(processor.eos_id())}
    sp._finish({}, generation, None, sp.user_defined_symbols(), None)
    sp.bos_id = int(processor.bos_id()) if processor.bos_id() >= 0 else None
    if processor.pad_id() >= 0:
        sp.pad_id = int(processor.pad_id())
    return sp


def load_tokenizer_dir(directory: Path) -> Tokenizer:
    """A Hugging Face checkpoint's tokenizer with its special tokens and chat template."""
    if not directory.is_dir():
        raise TokenizerError(f"tokenizer directory not found: {directory}")
    config = _read_json(directory / "tokenizer_config.json")
    for key, value in _read_json(directory / "special_tokens_map.json").items():
        if _token_text(config.get(key)) is None:
            config[key] = value
    generation = _read_json(directory / "generation_config.json")
    if not generation:
        generation = _read_json(directory / "config.json")
    template = template_source(config)
    jinja = directory / "chat_template.jinja"
    if template is None and jinja.is_file():
        template = jinja.read_text(encoding="utf-8")
    added = config.get("added_tokens_decoder")
    configured_specials = [
        str(item["content"])
        for _key, item in sorted(
            (added or {}).items(), key=lambda kv: int(kv[0]) if str(kv[0]).isdigit() else 0
        )
        if isinstance(item, dict) and item.get("special") and isinstance(item.get("content"), str)
    ]
    extra = config.get("additional_special_tokens") or []
    configured_specials += [t for t in map(_token_text, extra) if t]
    tokenizer: Tokenizer
    if (directory / TOKENIZER_JSON).is_file():
        hf = _load_tokenizers(directory / TOKENIZER_JSON)
        specials = [*hf.added_special_tokens(), *configured_specials]
        hf._finish(config, generation, template, specials, None)
        tokenizer = hf
    elif (directory / TOKENIZER_MODEL).is_file():
        processor = load_sentencepiece(directory / TOKENIZER_MODEL)
        add_bos = config.get("add_bos_token")
        sp = SentencePieceTokenizer(processor, add_bos=True if add_bos is None else bool(add_bos))
        texts = [t for t in (_token_text(config.get(n)) for n in SPECIAL_NAMES) if t]
        sp.add_special_strings([*texts, *configured_specials])
        default_pad = int(processor.pad_id()) if processor.pad_id() >= 0 else None
        sp._finish(config, generation, template, sp.user_defined_symbols(), default_pad)
        tokenizer = sp
    else:
        raise TokenizerError(f"{directory} has neither {TOKENIZER_JSON} nor {TOKENIZER_MODEL}")
    return tokenizer
