"""`tunix-rt eval leaderboard | list | show` as subprocesses against a real `tunix-rt serve`
(both databases), with run and evaluation rows seeded through the ORM."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence

import pytest

from tests import eval_rows, run_rows
from tests.eval_rows import Sessions
from tests.integration.cli_server import Server, make_dataset, module_server, run_cli
from tunix_rt.db import models
from tunix_rt.db.types import utcnow
from tunix_rt.evaluations import stats, store


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with module_server(database_url, tmp_path_factory.mktemp("cli-eval-views") / "home") as srv:
        yield srv


def cli(server: Server, *args: str) -> tuple[int, str, str]:
    done = run_cli(server.url, "eval", *args)
    return done.returncode, done.stdout, done.stderr


async def ranked(sessions: Sessions, dataset_key: str, correct: int, n: int, lr: float) -> str:
    run_id = await run_rows.insert_run(
        sessions,
        status="completed",
        dataset_key=dataset_key,
        request={"dataset_key": dataset_key, "learning_rate": lr, "seed": 3},
        name=f"lr-{lr}",
    )
    examples = [(f"k{i}", i < correct) for i in range(n)]
    evaluation_id = await eval_rows.insert_evaluation(
        sessions, examples, dataset_key=dataset_key, run_id=run_id
    )
    return str(evaluation_id)


def percent_interval(correct: int, n: int) -> str:
    low, high = stats.wilson_interval(correct, n)
    return f"{low:.1%}-{high:.1%}"


async def test_leaderboard_prints_the_ranked_table(server: Server, sessions: Sessions) -> None:
    third = await ranked(sessions, "cli-lb-v1", 60, 100, lr=0.01)
    first = await ranked(sessions, "cli-lb-v1", 150, 200, lr=0.001)
    second = await ranked(sessions, "cli-lb-v1", 120, 200, lr=0.003)
    code, out, err = cli(server, "leaderboard", "cli-lb-v1")
    assert code == 0, out + err
    lines = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [line.split()[1] for line in lines] == [first[:8], second[:8], third[:8]]
    assert lines[0].split()[:6] == [
        "1",
        first[:8],
        "lr-0.001",
        "75.0%",
        percent_interval(150, 200),
        "200",
    ]
    assert "lr=0.001 seed=3" in lines[0] and "tiny" in lines[0]
    assert lines[2].split()[3:5] == ["60.0%", percent_interval(60, 100)]

    code, out, _ = cli(server, "leaderboard", "cli-lb-v1", "--limit", "1", "--json")
    board = json.loads(out)
    assert code == 0 and [e["evaluation_id"] for e in board["data"]] == [first]
    assert board["data"][0]["hyperparameters"] == {"learning_rate": 0.001, "seed": 3}

    code, out, err = cli(server, "leaderboard", "cli-lb-v1", "--metric", "vibes")
    assert code == 1 and "--metric" in err


async def test_leaderboard_of_an_unknown_or_empty_dataset(server: Server) -> None:
    code, out, err = cli(server, "leaderboard", "no-such-dataset-v9")
    assert code == 1 and "unknown dataset 'no-such-dataset-v9'" in err, out + err
    key = make_dataset(server.url, "cli-lb-empty", count=10)
    code, out, err = cli(server, "leaderboard", key)
    assert code == 0 and f"no completed evaluations on {key}" in out, out + err
    unreachable = run_cli("http://127.0.0.1:9", "eval", "leaderboard", key)
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr


async def classed(
    sessions: Sessions,
    evaluation_id: uuid.UUID,
    pairs: Sequence[tuple[str, str | None]],
    run_id: uuid.UUID | None = None,
) -> str:
    """An evaluation with the given (expected, extracted) examples and its real summary."""
    rows = [
        {
            "evaluation_id": evaluation_id,
            "position": i,
            "example_key": f"c{i}",
            "prompt": f"which card wins, round {i}? [bold]x[/bold]",
            "expected": expected,
            "generated": f"Reasoning:\n1. compare\nAnswer: {extracted}",
            "extracted": extracted,
            "correct": extracted == expected,
            "format_ok": extracted is not None,
            "task": "duel",
        }
        for i, (expected, extracted) in enumerate(pairs)
    ]
    summary = store.summarize_examples(rows)
    async with sessions() as session:
        session.add(
            models.Evaluation(
                id=evaluation_id,
                run_id=run_id,
                step=40,
                dataset_key="cli-show-v1",
                split="holdout",
                status="completed",
                scorer_version="answer-v1",
                n=summary["n"],
                exact_match=summary["exact_match"],
                format_ok=summary["format_ok"],
                summary=summary,
                wall_s=2.5,
                created_at=utcnow(),
            )
        )
        await session.flush()
        session.add_all(models.EvaluationExample(**row) for row in rows)
        await session.commit()
    return str(evaluation_id)


PAIRS = [("A", "A")] * 3 + [("A", "B"), ("A", None), ("B", "B"), ("B", "zz")]


async def test_list_filters_by_run_and_dataset(server: Server, sessions: Sessions) -> None:
    run_id = await run_rows.insert_run(sessions, status="completed", dataset_key="cli-show-v1")
    mine = await classed(sessions, uuid.uuid4(), PAIRS, run_id=run_id)
    other = await classed(sessions, uuid.uuid4(), PAIRS[:2])
    code, out, err = cli(server, "list", "--run", str(run_id)[:8])
    assert code == 0, out + err
    assert mine[:8] in out and other[:8] not in out
    assert "57.1%" in out and percent_interval(4, 7) in out  # 4 of 7 right
    code, out, _ = cli(server, "list", "--dataset", "cli-show-v1", "--json")
    listed = {e["evaluation_id"] for e in json.loads(out)["data"]}
    assert code == 0 and {mine, other} <= listed
    code, out, _ = cli(server, "list", "--dataset", "nothing-here-v1")
    assert code == 0 and "no evaluations" in out
    code, _, err = cli(server, "list", "--run", "zzzz")
    assert code == 1 and "not a run id" in err


async def test_show_prints_record_classes_confusion_and_examples(
    server: Server, sessions: Sessions
) -> None:
    evaluation_id = await classed(sessions, uuid.uuid4(), PAIRS)
    code, out, err = cli(server, "show", evaluation_id[:8])
    assert code == 0, out + err
    assert evaluation_id in out and "cli-show-v1 (holdout split)" in out
    assert f"57.1% (95% CI {percent_interval(4, 7)})" in out
    classes = out.split("by expected answer")[1].split("confusion")[0]
    assert classes.split("\n")[2].split()[:3] == ["A", "5", "60.0%"]
    confusion = out.split("confusion")[1].split("examples (")[0].splitlines()
    header = next(line for line in confusion if "EXPECTED" in line)
    assert header.split()[-4:] == ["A", "B", "other", "(none)"]
    rows = {line.split()[0]: line.split()[1:] for line in confusion if line[:1] in ("A", "B")}
    assert rows == {"A": ["3", "1", "0", "1"], "B": ["0", "1", "1", "0"]}
    assert "examples (7 of 7)" in out and "[bold]x[/bold]" in out  # markup shown as text

    code, out, err = cli(server, "show", evaluation_id, "--wrong")
    assert code == 0, out + err
    assert "wrong examples (3 of 3)" in out
    example_lines = out.split("wrong examples")[1].splitlines()[2:]
    assert [line.split()[0] for line in example_lines if line.strip()] == ["4", "5", "7"]


async def test_show_resolves_short_ids_and_reports_bad_ones(
    server: Server, sessions: Sessions
) -> None:
    one = await classed(sessions, uuid.UUID("abcd0000-0000-4000-8000-000000000001"), PAIRS[:1])
    await classed(sessions, uuid.UUID("abcd1111-0000-4000-8000-000000000002"), PAIRS[:1])
    code, out, err = cli(server, "show", "abcd0", "--examples", "0")
    assert code == 0 and one in out, out + err
    code, _, err = cli(server, "show", "abcd")
    assert code == 1 and "matches several evaluations" in err and one in err
    code, _, err = cli(server, "show", "ffff9999")
    assert code == 1 and "no evaluation id starts with 'ffff9999'" in err
    code, _, err = cli(server, "show", "latest")
    assert code == 1 and "not an evaluation id" in err
    code, _, err = cli(server, "show", str(uuid.uuid4()))
    assert code == 1 and "not found" in err
