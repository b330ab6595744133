"""GET /api/evaluations/{id}/confusion (expected vs extracted answer counts) and the id_prefix
filter of GET /api/evaluations, on both databases, with rows seeded through the ORM."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import httpx
from sqlalchemy import delete

from tests.eval_rows import Sessions
from tunix_rt.db import models
from tunix_rt.db.types import utcnow

BASE = "/api/evaluations"


async def seed(sessions: Sessions, pairs: Sequence[tuple[str, str | None, bool]]) -> uuid.UUID:
    """An evaluation whose i-th example expected pairs[i][0], extracted pairs[i][1]."""
    evaluation_id = uuid.uuid4()
    async with sessions() as session:
        session.add(
            models.Evaluation(
                id=evaluation_id,
                step=10,
                dataset_key="confusion-v1",
                split="holdout",
                status="completed",
                scorer_version="answer-v1",
                n=len(pairs),
                exact_match=sum(ok for _, _, ok in pairs) / len(pairs),
                format_ok=1.0,
                summary={},
                created_at=utcnow(),
            )
        )
        await session.flush()
        session.add_all(
            models.EvaluationExample(
                evaluation_id=evaluation_id,
                position=i,
                example_key=f"k{i}",
                prompt=f"prompt {i}",
                expected=expected,
                generated=f"Answer: {extracted}" if extracted is not None else "no idea",
                extracted=extracted,
                correct=ok,
                format_ok=extracted is not None,
                task="duel",
            )
            for i, (expected, extracted, ok) in enumerate(pairs)
        )
        await session.commit()
    return evaluation_id


def repeat(expected: str, extracted: str | None, count: int) -> list[tuple[str, str | None, bool]]:
    correct = extracted is not None and extracted.lower().rstrip(".") == expected.lower()
    return [(expected, extracted, correct)] * count


async def test_confusion_counts_expected_against_extracted(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    pairs = [
        *repeat("A", "A", 3),
        *repeat("A", "b", 1),  # the scorer's normal form: column B
        *repeat("A", "Z", 2),  # outside the classes: other
        *repeat("A", None, 1),
        *repeat("B", "B", 2),
        *repeat("B", "A", 1),
        *repeat("tie", "Tie.", 1),  # normalised: the tie column (and correct)
        *repeat("tie", None, 2),
    ]
    evaluation_id = await seed(sessions, pairs)
    response = await client.get(f"{BASE}/{evaluation_id}/confusion")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["evaluation_id"] == str(evaluation_id)
    assert body["n"] == 13
    assert body["classes"] == ["A", "B", "tie"]
    rows = {row["expected"]: row for row in body["rows"]}
    assert rows["A"] == {"expected": "A", "n": 7, "counts": [3, 1, 0], "other": 2, "none": 1}
    assert rows["B"] == {"expected": "B", "n": 3, "counts": [1, 2, 0], "other": 0, "none": 0}
    assert rows["tie"] == {"expected": "tie", "n": 3, "counts": [0, 0, 1], "other": 0, "none": 2}
    # The diagonal is exactly what the scorer counted as correct.
    diagonal = sum(row["counts"][i] for i, row in enumerate(body["rows"]))
    assert diagonal == sum(ok for _, _, ok in pairs) == 6


async def test_confusion_of_an_evaluation_without_examples_is_empty(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    evaluation_id = await seed(sessions, [("A", "A", True)])
    async with sessions() as session:
        await session.execute(
            delete(models.EvaluationExample).where(
                models.EvaluationExample.evaluation_id == evaluation_id
            )
        )
        await session.commit()
    body = (await client.get(f"{BASE}/{evaluation_id}/confusion")).json()
    assert body["n"] == 0 and body["classes"] == [] and body["rows"] == []


async def test_confusion_refuses_more_than_20_classes_with_a_clear_note(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    twenty = await seed(sessions, [(str(i), str(i), True) for i in range(20)])
    response = await client.get(f"{BASE}/{twenty}/confusion")
    assert response.status_code == 200 and len(response.json()["classes"]) == 20

    many = await seed(sessions, [(str(i), str(i), True) for i in range(21)])
    response = await client.get(f"{BASE}/{many}/confusion")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "21 distinct expected answers" in detail and "at most 20" in detail


async def test_confusion_of_an_unknown_or_malformed_id(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/{uuid.uuid4()}/confusion")
    assert response.status_code == 404 and "not found" in response.json()["detail"]
    assert (await client.get(f"{BASE}/not-a-uuid/confusion")).status_code == 422


async def test_list_filters_by_id_prefix(client: httpx.AsyncClient, sessions: Sessions) -> None:
    first = await seed(sessions, [("A", "A", True)])
    await seed(sessions, [("A", "B", False)])
    for prefix in (str(first)[:8], str(first)[:4].upper(), str(first)[:13]):
        page = (await client.get(BASE, params={"id_prefix": prefix})).json()
        assert [e["evaluation_id"] for e in page["data"]] == [str(first)], prefix
        assert page["total"] == 1
    for bad in ("abc", "zzzz", "a" * 40):
        response = await client.get(BASE, params={"id_prefix": bad})
        assert response.status_code == 422, (bad, response.text)
