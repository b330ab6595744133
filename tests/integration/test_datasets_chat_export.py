"""The template-neutral `chat` export format on both backends: messages that a model's own
chat template renders, carrying the same prompt and answer as the tunix_sft export."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tunix_rt.datasets import formats
from tunix_rt.training import data


async def export(client: httpx.AsyncClient, key: str, **params: str) -> list[dict[str, Any]]:
    res = await client.get(f"/api/datasets/{key}/export.jsonl", params=params)
    assert res.status_code == 200, res.text
    assert f".{params.get('format', 'trace')}.jsonl" in res.headers["content-disposition"]
    return [json.loads(line) for line in res.text.splitlines()]


async def test_chat_export_matches_tunix_sft(client: httpx.AsyncClient) -> None:
    res = await client.post(
        "/api/traces/generate", json={"task": "high_card_duel", "count": 12, "seed": 3}
    )
    assert res.status_code == 201, res.text
    res = await client.post(
        "/api/datasets/build",
        json={"dataset_name": "chat", "dataset_version": "v1", "holdout_fraction": 0.25},
    )
    assert res.status_code == 201, res.text
    chat = await export(client, "chat-v1", format="chat", split="all")
    sft = await export(client, "chat-v1", format="tunix_sft", split="all")
    assert len(chat) == len(sft) == 12
    for record, reference in zip(chat, sft, strict=True):
        assert set(record) == {"id", "messages", "final_answer", "metadata"}
        assert record["id"] == reference["id"]
        assert [m["role"] for m in record["messages"]] == ["user", "assistant"]
        assert record["messages"][0]["content"].startswith("Player A draws the ")
        assert record["messages"][1]["content"].endswith(f"Answer: {record['final_answer']}")
        assert "<start_of_turn>" not in json.dumps(record["messages"])
        assert record["metadata"] == reference["metadata"]
        # The training child reads both formats into the same example.
        ours = data.parse_record(record, "chat")
        theirs = data.parse_record(reference, "sft")
        assert ours.chat_messages() == theirs.chat_messages()
        assert ours.assistant_text() == theirs.assistant_text()
        assert (ours.prompt, ours.response) == (theirs.prompt, theirs.response)
        assert ours.expected_answer == theirs.expected_answer
    holdout = await export(client, "chat-v1", format="chat", split="holdout")
    assert 0 < len(holdout) < 12
    bad = await client.get("/api/datasets/chat-v1/export.jsonl", params={"format": "messages"})
    assert bad.status_code == 422
    assert "chat" in formats.FORMATS
