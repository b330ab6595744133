"""`tunix-rt eval gate` as a subprocess against a real `tunix-rt serve` (both databases):
exit 0 (not significantly worse), 1 (a regression), 2 (cannot compare), with evaluation rows
inserted directly through the ORM."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.eval_rows import Sessions, insert_evaluation
from tests.integration.cli_server import (
    Server,
    module_server,
    run_cli,
)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with module_server(database_url, tmp_path_factory.mktemp("cli-eval") / "home") as srv:
        yield srv


async def pair(sessions: Sessions, right_to_wrong: int, wrong_to_right: int) -> tuple[str, str]:
    """Two evaluations on the same 20 keys with the given flips; the rest agree (half of
    them right under both, half wrong)."""
    base: list[tuple[str, bool]] = []
    cand: list[tuple[str, bool]] = []
    for i in range(right_to_wrong):
        base.append((f"rw{i}", True))
        cand.append((f"rw{i}", False))
    for i in range(wrong_to_right):
        base.append((f"wr{i}", False))
        cand.append((f"wr{i}", True))
    for i in range(20 - right_to_wrong - wrong_to_right):
        base.append((f"same{i}", i % 2 == 0))
        cand.append((f"same{i}", i % 2 == 0))
    return (
        str(await insert_evaluation(sessions, base)),
        str(await insert_evaluation(sessions, cand)),
    )


def gate(server: Server, baseline: str, candidate: str, *args: str) -> tuple[int, str, str]:
    done = run_cli(
        server.url, "eval", "gate", "--baseline", baseline, "--candidate", candidate, *args
    )
    return done.returncode, done.stdout, done.stderr


async def test_gate_passes_a_better_candidate_and_prints_the_paired_table(
    server: Server, sessions: Sessions
) -> None:
    baseline, candidate = await pair(sessions, right_to_wrong=1, wrong_to_right=9)
    code, out, err = gate(server, baseline, candidate)
    assert code == 0, out + err
    assert "exact_match on 20 paired examples" in out
    assert baseline in out and candidate in out
    assert "right->wrong 1, wrong->right 9" in out
    # (C(10,0) + C(10,1)) / 2^10 * 2 = 0.021484375
    assert "McNemar exact p: 0.02148" in out
    assert "diff (candidate - baseline): +0.4000" in out
    assert "PASS" in out


async def test_gate_fails_a_significant_drop(server: Server, sessions: Sessions) -> None:
    baseline, candidate = await pair(sessions, right_to_wrong=9, wrong_to_right=1)
    code, out, err = gate(server, baseline, candidate)
    assert code == 1, out + err
    assert "diff (candidate - baseline): -0.4000" in out and "FAIL" in out
    # The same drop within the allowed one, or not significant at a stricter alpha: pass.
    assert gate(server, baseline, candidate, "--max-drop", "0.4")[0] == 0
    assert gate(server, baseline, candidate, "--max-drop", "0.39")[0] == 1
    assert gate(server, baseline, candidate, "--alpha", "0.02")[0] == 0
    code, out, _ = gate(server, baseline, candidate, "--json")
    report = json.loads(out)
    assert code == 1 and report["regression"] is True
    assert report["flips"] == {"right_to_wrong": 9, "wrong_to_right": 1}


async def test_gate_passes_a_drop_that_is_not_significant(
    server: Server, sessions: Sessions
) -> None:
    baseline, candidate = await pair(sessions, right_to_wrong=3, wrong_to_right=1)
    code, out, err = gate(server, baseline, candidate)
    # 2 * (1 + 4) / 16 = 0.625: worse, but not significantly so.
    assert code == 0, out + err
    assert "McNemar exact p: 0.625" in out and "-0.1000" in out


async def test_gate_cannot_compare_exits_2(server: Server, sessions: Sessions) -> None:
    done = str(await insert_evaluation(sessions, [("a", True), ("b", False)]))
    elsewhere = str(await insert_evaluation(sessions, [("c", True)]))
    running = str(await insert_evaluation(sessions, [("a", True)], status="running"))

    code, out, err = gate(server, done, elsewhere)
    assert code == 2 and "share no example" in err, out + err
    code, out, err = gate(server, done, running)
    assert code == 2 and "not completed" in err, out + err
    missing = str(uuid.uuid4())
    code, out, err = gate(server, missing, done)
    assert code == 2 and "not found" in err, out + err
    code, out, err = gate(server, "latest", done)
    assert code == 2 and "not an evaluation id" in err, out + err
    code, _, err = gate(server, done, done, "--metric", "vibes")
    assert code == 2 and "--metric" in err
    unreachable = run_cli(
        "http://127.0.0.1:9", "eval", "gate", "--baseline", done, "--candidate", done
    )
    assert unreachable.returncode == 2 and "cannot reach" in unreachable.stderr
