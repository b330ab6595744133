"""Chat templates: the Jinja template of a tokenizer_config.json, rendered as transformers does.

transformers renders `chat_template` in an immutable sandboxed Jinja environment with
trim_blocks and lstrip_blocks, the variables `messages`, `add_generation_prompt`,
`bos_token`, `eos_token` (and the other special tokens), a `raise_exception(message)`
global and a `tojson` filter that keeps non-ASCII text. We do the same, so a template
renders here exactly as `tokenizer.apply_chat_template(..., tokenize=False)` renders it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

Message = Mapping[str, Any]


class ChatTemplateError(ValueError):
    """The chat template cannot be compiled or rendered (or it raised itself)."""


def _raise_exception(message: str) -> NoReturn:
    raise ChatTemplateError(f"chat template refused the conversation: {message}")


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(format: str) -> str:
    return datetime.now(UTC).strftime(format)


@dataclass(frozen=True)
class ChatTemplate:
    """A compiled chat template with the tokenizer's special token strings."""

    source: str
    special_tokens: dict[str, str] = field(default_factory=dict)  # bos_token, eos_token, ...
    _compiled: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def compile(cls, source: str, special_tokens: Mapping[str, str]) -> ChatTemplate:
        from jinja2 import TemplateError
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        environment = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
        )
        environment.filters["tojson"] = _tojson
        environment.globals["raise_exception"] = _raise_exception
        environment.globals["strftime_now"] = _strftime_now
        try:
            compiled = environment.from_string(source)
        except TemplateError as exc:
            raise ChatTemplateError(f"chat template does not compile: {exc}") from exc
        return cls(source=source, special_tokens=dict(special_tokens), _compiled=compiled)

    def render(self, messages: Sequence[Message], add_generation_prompt: bool) -> str:
        from jinja2 import TemplateError

        context = {
            **self.special_tokens,
            "messages": [dict(m) for m in messages],
            "add_generation_prompt": add_generation_prompt,
        }
        try:
            text: str = self._compiled.render(**context)
        except ChatTemplateError:
            raise
        except (TemplateError, TypeError, KeyError, ValueError) as exc:
            raise ChatTemplateError(f"chat template failed to render: {exc}") from exc
        return text


def template_source(config: Mapping[str, Any], name: str = "default") -> str | None:
    """The template of tokenizer_config.json's `chat_template`: a string, or a list of
    {name, template} (the one named `name`, else the first)."""
    raw = config.get("chat_template")
    if isinstance(raw, str):
        return raw or None
    if isinstance(raw, list):
        named = {
            str(item.get("name")): str(item.get("template"))
            for item in raw
            if isinstance(item, dict) and item.get("template")
        }
        if name in named:
            return named[name]
        return next(iter(named.values()), None)
    return None
