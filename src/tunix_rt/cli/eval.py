"""`tunix-rt eval`: read and decide with evaluations. `leaderboard`, `list` and `show` read
records (cli/eval_views.py); `gate` is a regression gate for CI pipelines.

Exit codes of `gate`: 0 the candidate is not significantly worse than the baseline by more
than the allowed drop, 1 it is, 2 no decision could be made (the evaluations share no
example, one is unfinished or unknown, the server cannot be reached). A pipeline can thus
tell "worse" from "could not compare", and never reads a failed request as a regression.
"""

from __future__ import annotations

import uuid
from typing import Any

import typer

from tunix_rt.cli import eval_submit, eval_views
from tunix_rt.cli.client import ApiError, Client
from tunix_rt.cli.output import console, fail, print_json
from tunix_rt.cli.table import Column, print_table

app = typer.Typer(
    help="Evaluations: leaderboard, list, show; compare two and gate a change.",
    no_args_is_help=True,
)
app.command("leaderboard")(eval_views.leaderboard)
app.command("list")(eval_views.list_evaluations)
app.command("show")(eval_views.show)
app.command("run")(eval_submit.run)
app.command("cancel")(eval_submit.cancel)

SERVER_OPTION = typer.Option(None, "--server", help="Server URL (default $TUNIX_RT_SERVER).")
PASS, REGRESSION, UNDECIDED = 0, 1, 2

SIDE_COLUMNS = (
    Column(""),
    Column("EVALUATION"),
    Column("VALUE", justify="right"),
    Column("CORRECT", justify="right"),
    Column("EVALUATED", justify="right", fold=1),
    Column("STEP", justify="right", fold=2),
    Column("RUN", fold=3),
)
TABLE_COLUMNS = (
    Column("BASELINE \\ CANDIDATE"),
    Column("RIGHT", justify="right"),
    Column("WRONG", justify="right"),
)


def is_regression(comparison: dict[str, Any], max_drop: float, alpha: float) -> bool:
    """Worse by more than max_drop AND significantly so (McNemar's exact p below alpha)."""
    return bool(comparison["diff"] < -max_drop and comparison["mcnemar_p"] < alpha)


def _side_row(role: str, side: dict[str, Any], n_paired: int) -> list[str]:
    return [
        role,
        str(side["evaluation_id"]),
        f"{side['value']:.4f}",
        f"{side['correct']}/{n_paired}",
        str(side["n_evaluated"]),
        "-" if side["step"] is None else str(side["step"]),
        str(side["run_id"] or "-"),
    ]


def print_comparison(comparison: dict[str, Any]) -> None:
    n = comparison["n_paired"]
    base, cand = comparison["baseline"], comparison["candidate"]
    flips = comparison["flips"]
    down, up = flips["right_to_wrong"], flips["wrong_to_right"]
    both_right = base["correct"] - down
    console.print(
        f"{comparison['metric']} on {n} paired examples (scorer {base['scorer_version']})",
        highlight=False,
    )
    print_table(
        console,
        SIDE_COLUMNS,
        [_side_row("baseline", base, n), _side_row("candidate", cand, n)],
    )
    console.print()
    print_table(
        console,
        TABLE_COLUMNS,
        [
            ["right", str(both_right), str(down)],
            ["wrong", str(up), str(n - both_right - down - up)],
        ],
    )
    console.print()
    console.print(
        f"flips: right->wrong {down}, wrong->right {up}\n"
        f"diff (candidate - baseline): {comparison['diff']:+.4f} "
        f"(95% CI {comparison['diff_ci_low']:+.4f} to {comparison['diff_ci_high']:+.4f})\n"
        f"McNemar exact p: {comparison['mcnemar_p']:.4g}",
        highlight=False,
    )


def _parse_id(value: str, role: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"--{role}: not an evaluation id: {value!r} (expected a UUID)", UNDECIDED)


@app.command("gate")
def gate(
    baseline: str = typer.Option(..., "--baseline", help="Evaluation id of the baseline."),
    candidate: str = typer.Option(..., "--candidate", help="Evaluation id of the candidate."),
    metric: str = typer.Option("exact_match", "--metric", help="exact_match or format_ok."),
    max_drop: float = typer.Option(
        0.0, "--max-drop", min=0.0, max=1.0, help="Allowed drop of the metric (0.02 = 2 points)."
    ),
    alpha: float = typer.Option(
        0.05, "--alpha", min=0.0, max=1.0, help="Significance level of McNemar's exact test."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
    server: str | None = SERVER_OPTION,
) -> None:
    """Exit 0 unless the candidate is significantly worse than the baseline (McNemar's exact
    test on the examples both evaluated, p < alpha) by more than --max-drop: then exit 1.
    Exit 2 when the two cannot be compared (no shared example, unfinished or unknown)."""
    if metric not in ("exact_match", "format_ok"):
        fail(f"--metric: must be exact_match or format_ok, not {metric!r}", UNDECIDED)
    params = {
        "baseline": str(_parse_id(baseline, "baseline")),
        "candidate": str(_parse_id(candidate, "candidate")),
        "metric": metric,
    }
    try:
        with Client(server) as client:
            comparison: dict[str, Any] = client.get_json("/api/compare/evaluations", params=params)
    except ApiError as exc:
        fail(f"cannot compare: {exc.message}", UNDECIDED)
    regression = is_regression(comparison, max_drop, alpha)
    if json_output:
        print_json({"regression": regression, "max_drop": max_drop, "alpha": alpha, **comparison})
    else:
        print_comparison(comparison)
        verdict = (
            f"FAIL: the candidate is worse by more than {max_drop:g} "
            f"and significantly so (p < {alpha:g})"
            if regression
            else f"PASS: the candidate is not significantly worse by more than {max_drop:g} "
            f"(alpha {alpha:g})"
        )
        console.print(verdict, highlight=False)
    raise typer.Exit(REGRESSION if regression else PASS)
