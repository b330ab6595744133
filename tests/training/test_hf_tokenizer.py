"""The model's own tokenizer and chat template against transformers (tests/fixtures/hf:
reference.json holds the ids transformers' tokenizer gave for sample texts and for a chat
conversation rendered with the template), and the loss mask of a templated example."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tunix_rt.training import data, tokenizer
from tunix_rt.training.batches import build_batch
from tunix_rt.training.chat_template import ChatTemplate, ChatTemplateError
from tunix_rt.training.hf_tokenizer import load_tokenizer_dir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hf"
FAMILIES = sorted(p.name for p in FIXTURES.iterdir() if (p / "reference.json").is_file())


def reference(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name / "reference.json").read_text())
    return loaded


def test_every_family_has_a_fixture() -> None:
    assert {"gemma3", "llama3", "qwen2", "qwen3_tied", "qwen3_untied"} <= set(FAMILIES)


@pytest.mark.parametrize("name", FAMILIES)
def test_sample_texts_encode_to_transformers_ids(name: str) -> None:
    tok = tokenizer.load_tokenizer(FIXTURES / name)
    for sample in reference(name)["texts"]:
        assert tok.encode(sample["text"], add_special_tokens=True) == sample["ids"], sample
        # Decoding gives the text back (minus a BOS the tokenizer added).
        assert tok.decode(sample["ids"]).replace("<|begin_of_text|>", "") == sample["text"]


@pytest.mark.parametrize("name", FAMILIES)
def test_chat_template_renders_and_encodes_like_transformers(name: str) -> None:
    tok = tokenizer.load_tokenizer(FIXTURES / name)
    chat = reference(name)["chat"]
    text = tok.render_chat(chat["messages"], chat["add_generation_prompt"])
    assert text == chat["text"]
    assert tok.encode(text) == chat["ids"]


@pytest.mark.parametrize(
    ("name", "stop", "pad"),
    [
        ("gemma3", "<end_of_turn>", "<pad>"),
        ("llama3", "<|eot_id|>", "<|end_of_text|>"),
        ("qwen2", "<|im_end|>", "<|endoftext|>"),
    ],
)
def test_special_tokens_come_from_the_configs(name: str, stop: str, pad: str) -> None:
    tok = load_tokenizer_dir(FIXTURES / name)
    assert tok.token_to_id(stop) in tokenizer.stop_token_ids(tok)
    assert tok.pad_id == tok.token_to_id(pad)
    # Padding is recognised by its id: it must never occur in a rendered conversation.
    chat = reference(name)["chat"]
    assert tok.pad_id not in chat["ids"]


def holdout_example() -> data.Example:
    record = {
        "id": "ex-1",
        "prompts": (
            "<start_of_turn>user\nPlayer A draws the 5 of hearts. Who wins?<end_of_turn>\n"
            "<start_of_turn>model\nReasoning:\n1. 5 beats 3\nAnswer: A<end_of_turn>"
        ),
        "final_answer": "A",
        "metadata": {"task": "high_card_duel"},
    }
    return data.parse_record(record, "test:1")


@pytest.mark.parametrize("name", ["gemma3", "llama3", "qwen3_tied"])
def test_loss_covers_the_assistant_turn_only(name: str) -> None:
    tok = tokenizer.load_tokenizer(FIXTURES / name)
    example = holdout_example()
    encoded = tokenizer.encode_example(tok, example)
    prompt_ids = encoded.tokens[: encoded.prompt_length]
    # The prompt is exactly what evaluation gives the sampler.
    assert prompt_ids == tokenizer.encode_prompt(tok, example)
    rendered = tok.render_chat(
        [{"role": "user", "content": example.user_prompt}], add_generation_prompt=True
    )
    assert tok.decode(prompt_ids) == tok.decode(tok.encode(rendered))
    _tokens, mask = build_batch([encoded], len(encoded.tokens) + 4, tok.pad_id)
    loss_ids = [t for t, m in zip(encoded.tokens, mask[0], strict=False) if m]
    assert mask[0, : encoded.prompt_length].sum() == 0
    # The loss targets: the answer and the end of the turn, nothing after it.
    text = tok.decode(loss_ids)
    assert text.startswith("Reasoning:\n1. 5 beats 3\nAnswer: A")
    assert loss_ids[-1] in tokenizer.stop_token_ids(tok)
    assert sum(1 for t in loss_ids if t in tokenizer.stop_token_ids(tok)) == 1
    assert int(mask[0].sum()) == len(encoded.tokens) - encoded.prompt_length


def test_presets_keep_gemma_turns(tmp_path: Path) -> None:
    examples = [holdout_example()] * 4
    tok = tokenizer.train_tokenizer(examples, 300, tmp_path / "tokenizer.model")
    assert tok.chat_template is None
    encoded = tokenizer.encode_example(tok, examples[0])
    bos = tok.bos_id
    assert encoded.tokens[0] == bos
    assert tok.decode(encoded.tokens[encoded.prompt_length :]) == examples[0].response
    assert tokenizer.prompt_text(tok, examples[0]) == examples[0].prompt
    end = tok.token_to_id("<end_of_turn>")
    assert tokenizer.stop_token_ids(tok) == [end, 1]


def test_chat_records_parse_into_messages() -> None:
    record: dict[str, Any] = {
        "id": "c1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "Answer: 4"},
        ],
        "final_answer": "4",
        "metadata": {},
    }
    example = data.parse_record(record, "chat:1")
    assert example.chat_messages() == record["messages"][:2]
    assert example.assistant_text() == "Answer: 4"
    assert example.user_prompt == "2+2?"
    assert example.expected_answer == "4"
    assert example.prompt.endswith(data.MODEL_TURN)
    with pytest.raises(data.DatasetError, match="last message must be"):
        data.parse_record({"messages": record["messages"][:2]}, "chat:2")


def test_decoding_drops_ids_past_the_tokenizer() -> None:
    tok = tokenizer.load_tokenizer(FIXTURES / "qwen2")
    ids = tok.encode("Player A")
    assert tok.vocab_size == 403
    assert tok.decode([*ids, 403, 511]) == "Player A"
    adapter = tokenizer.SamplerTokenizer(tok)
    assert adapter.bos_id() is None and adapter.pad_id() == tok.pad_id
    assert adapter.decode([*ids, 500]) == "Player A"


def test_template_sandbox_and_raise_exception() -> None:
    template = ChatTemplate.compile(
        "{% if messages[0]['role'] != 'user' %}{{ raise_exception('user first') }}{% endif %}"
        "{{ messages | tojson }}",
        {},
    )
    assert template.render([{"role": "user", "content": "é"}], False) == (
        '[{"role": "user", "content": "é"}]'
    )
    with pytest.raises(ChatTemplateError, match="user first"):
        template.render([{"role": "assistant", "content": "x"}], False)
    unsafe = ChatTemplate.compile("{{ messages.__class__.__mro__ }}", {})
    with pytest.raises(ChatTemplateError):
        unsafe.render([], False)
