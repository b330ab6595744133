"""Write tiny Hugging Face checkpoints and transformers' reference outputs for the parity tests.

Not run by CI (torch + transformers are not project dependencies, about 5.7 GB). Run it in a
throwaway environment outside the repository:

    python3 -m venv /work/hfvenv
    /work/hfvenv/bin/pip install torch transformers safetensors sentencepiece tokenizers protobuf
    /work/hfvenv/bin/python scripts/make_hf_fixtures.py tests/fixtures/hf

Each family directory holds what a user's checkpoint holds: config.json and
model.safetensors written by transformers' own `save_pretrained` (random weights, every
parameter re-drawn, norms and biases included, so a transposed or dropped tensor shows in
the logits), a tokenizer (a byte-level BPE tokenizer.json for Qwen and Llama, a SentencePiece
tokenizer.model for Gemma) with tokenizer_config.json carrying a chat template, and:

- reference_logits.npy: float32 logits [sequences, length, vocab] that transformers computed
  (eager attention, float32) for the token ids in reference.json "logits_input_ids";
- reference.json: those ids, the ids transformers' tokenizer gives for sample texts, and the
  chat template applied to a sample conversation (text and ids).

Weights are stored in bfloat16 (as real checkpoints are) except qwen3_untied (float32); the
reference logits are computed in float32 from exactly the stored values.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

SEED = 1234
SEQ_LENGTH = 24
NUM_SEQUENCES = 2
VOCAB_SIZE = 512
BPE_VOCAB_SIZE = 400
SAMPLE_TEXTS = [
    "Player A draws the 5 of hearts.",
    "What is 12 + 30? Think step by step.",
    "  leading spaces, tabs\tand\nnew lines  ",
    "Ünïcödé: café, naïve, 日本語, emoji 🙂",
]
CONVERSATION = [
    {"role": "system", "content": "You are a careful card-game referee."},
    {"role": "user", "content": "Player A draws the 5 of hearts. Who wins?"},
    {"role": "assistant", "content": "Player A wins with 5 points."},
    {"role": "user", "content": "And then?"},
]
CORPUS = [
    *SAMPLE_TEXTS,
    "The quick brown fox jumps over the lazy dog while counting 1 2 3 4 5 6 7 8 9 0.",
    "Reasoning traces: step one, step two, the final answer is 42.",
    "Players draw cards from the deck: hearts, spades, clubs and diamonds.",
    "You are a careful card-game referee. Who wins? And then? Think step by step.",
] * 8

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] "
    "+ '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set role = 'user' %}"
    "{% elif message['role'] == 'assistant' %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)

QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

COMMON = {
    "vocab_size": VOCAB_SIZE,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "head_dim": 16,
    "max_position_embeddings": 256,
}


def configs() -> dict[str, tuple[Any, str]]:
    """name -> (transformers config, weight dtype)."""
    return {
        "gemma3": (
            transformers.Gemma3TextConfig(
                **COMMON,
                num_hidden_layers=6,  # Tunix's pattern: five sliding layers, then a global one
                num_key_value_heads=1,
                sliding_window=8,  # shorter than SEQ_LENGTH
                query_pre_attn_scalar=16,
                rope_theta=1_000_000.0,
                rope_local_base_freq=10_000.0,
                tie_word_embeddings=True,
            ),
            "bfloat16",
        ),
        "qwen2": (
            transformers.Qwen2Config(
                **{k: v for k, v in COMMON.items() if k != "head_dim"},
                num_hidden_layers=2,
                num_key_value_heads=2,
                rope_theta=1_000_000.0,
                tie_word_embeddings=True,
            ),
            "bfloat16",
        ),
        "qwen3_tied": (
            transformers.Qwen3Config(
                **COMMON,
                num_hidden_layers=2,
                num_key_value_heads=2,
                rope_theta=1_000_000.0,
                tie_word_embeddings=True,
            ),
            "bfloat16",
        ),
        "qwen3_untied": (
            transformers.Qwen3Config(
                **COMMON,
                num_hidden_layers=3,
                num_key_value_heads=1,
                rope_theta=1_000_000.0,
                tie_word_embeddings=False,
            ),
            "float32",
        ),
        "llama3": (
            transformers.LlamaConfig(
                **COMMON,
                num_hidden_layers=2,
                num_key_value_heads=2,
                rope_theta=500_000.0,
                # original_max_position_embeddings small enough that the scaling changes
                # the rotation of most frequencies within SEQ_LENGTH positions.
                rope_scaling={
                    "rope_type": "llama3",
                    "factor": 8.0,
                    "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 64,
                },
                tie_word_embeddings=False,
            ),
            "bfloat16",
        ),
    }


def redraw(model: torch.nn.Module, family: str, generator: torch.Generator) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                # Gemma scales by (1 + w): around 0; the others by w: around 1.
                center = 0.0 if family == "gemma3" else 1.0
                value = center + 0.1 * torch.randn(param.shape, generator=generator)
            elif name.endswith("bias"):
                value = 0.1 * torch.randn(param.shape, generator=generator)
            else:
                value = torch.randn(param.shape, generator=generator) / param.shape[-1] ** 0.5
            param.copy_(value)


def bpe_tokenizer(directory: Path, family: str) -> dict[str, int]:
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    if family == "llama3":
        specials = [
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eot_id|>",
        ]
        bos, eos, pad, template = "<|begin_of_text|>", "<|eot_id|>", None, LLAMA3_TEMPLATE
    else:
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        bos, eos, pad, template = None, "<|im_end|>", "<|endoftext|>", CHATML
    tokenizer = Tokenizer(models.BPE())
    if family == "qwen2":
        tokenizer.normalizer = normalizers.NFC()
    # The families' own split rules (transformers' Qwen2Tokenizer rebuilds Qwen's, so the
    # file must hold the same for the `tokenizers` library to agree with it).
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(LLAMA3_SPLIT if family == "llama3" else QWEN2_SPLIT),
                behavior="isolated",
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    # Specials after the trained pieces, as in the real tokenizers (ids near the end).
    tokenizer.add_special_tokens(specials)
    if bos is not None:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A",
            pair=f"{bos} $A {bos} $B",
            special_tokens=[(bos, tokenizer.token_to_id(bos))],
        )
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.save(str(directory / "tokenizer.json"))
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast" if family == "llama3" else "Qwen2Tokenizer",
        "bos_token": bos,
        "eos_token": eos,
        "pad_token": pad,
        "model_max_length": 256,
        "clean_up_tokenization_spaces": False,
        "chat_template": template,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    if family == "llama3":
        return {
            "bos_token_id": tokenizer.token_to_id(bos),
            "eos_token_id": tokenizer.token_to_id(eos),
        }
    return {
        "bos_token_id": tokenizer.token_to_id("<|endoftext|>"),
        "eos_token_id": tokenizer.token_to_id(eos),
        "pad_token_id": tokenizer.token_to_id("<|endoftext|>"),
    }


def sentencepiece_tokenizer(directory: Path) -> dict[str, int]:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS),
        model_writer=model,
        vocab_size=BPE_VOCAB_SIZE,
        model_type="bpe",
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="identity",  # no 240 KB normalisation table in the file
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
        user_defined_symbols=["<start_of_turn>", "<end_of_turn>"],
        hard_vocab_limit=False,
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
    )
    (directory / "tokenizer.model").write_bytes(model.getvalue())
    config = {
        "tokenizer_class": "GemmaTokenizer",
        "bos_token": "<bos>",
        "eos_token": "<eos>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "model_max_length": 256,
        "clean_up_tokenization_spaces": False,
        "chat_template": GEMMA_TEMPLATE,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return {"pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2}


def check_tokenizer_files(directory: Path, family: str, tokenizer: Any) -> None:
    """The tokenizer files read by their own libraries give transformers' ids."""
    texts = [*SAMPLE_TEXTS, "".join(SAMPLE_TEXTS)]
    if family == "gemma3":
        import sentencepiece as spm

        processor = spm.SentencePieceProcessor(model_file=str(directory / "tokenizer.model"))
        ours = [[processor.bos_id(), *processor.encode(text)] for text in texts]
    else:
        from tokenizers import Tokenizer

        file = Tokenizer.from_file(str(directory / "tokenizer.json"))
        ours = [file.encode(text).ids for text in texts]
    theirs = [tokenizer(text)["input_ids"] for text in texts]
    if ours != theirs:
        raise SystemExit(
            f"{directory.name}: tokenizer files disagree with transformers:\n{ours}\n{theirs}"
        )


def make_family(root: Path, name: str, config: Any, dtype: str, seed: int) -> dict[str, Any]:
    family = name.split("_")[0]
    directory = root / name
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    generator = torch.Generator().manual_seed(seed)
    # The tokenizer first: config.json's special token ids are the tokenizer's.
    if family == "gemma3":
        special_ids = sentencepiece_tokenizer(directory)
    else:
        special_ids = bpe_tokenizer(directory, family)
    for key, value in special_ids.items():
        setattr(config, key, value)
    config._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.eval()
    redraw(model, family, generator)
    stored = getattr(torch, dtype)
    with torch.no_grad():  # the float32 model holds exactly the values that are stored
        for param in model.parameters():
            param.copy_(param.to(stored).to(torch.float32))
    input_ids = torch.randint(0, VOCAB_SIZE, (NUM_SEQUENCES, SEQ_LENGTH), generator=generator)
    with torch.no_grad():
        logits = model(input_ids=input_ids).logits.to(torch.float32).numpy()
    np.save(directory / "reference_logits.npy", logits)
    model.to(stored).save_pretrained(directory, safe_serialization=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    check_tokenizer_files(directory, family, tokenizer)
    chat_text = tokenizer.apply_chat_template(
        CONVERSATION, tokenize=False, add_generation_prompt=True
    )
    chat_ids = tokenizer(chat_text, add_special_tokens=False)["input_ids"]
    reference = {
        "made_by": f"transformers {transformers.__version__}, torch {torch.__version__}",
        "architecture": type(model).__name__,
        "weight_dtype": dtype,
        "logits_input_ids": input_ids.tolist(),
        "tokenizer_class": type(tokenizer).__name__,
        "texts": [{"text": text, "ids": tokenizer(text)["input_ids"]} for text in SAMPLE_TEXTS],
        "chat": {
            "messages": CONVERSATION,
            "add_generation_prompt": True,
            "text": chat_text,
            "ids": list(chat_ids),
        },
    }
    (directory / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    size = sum(p.stat().st_size for p in directory.iterdir())
    print(f"{name}: {type(model).__name__} {dtype}, {size / 1024:.0f} KiB", flush=True)
    return reference


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path("tests/fixtures/hf")
    torch.manual_seed(SEED)
    for offset, (name, (config, dtype)) in enumerate(sorted(configs().items())):
        make_family(root, name, config, dtype, SEED + offset)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
