"""`tunix-rt eval leaderboard | list | show`: read evaluation records over the HTTP API.

An evaluation is named by its id or a unique prefix of it (at least 4 hex digits, such as
the 8-character short id these tables print), resolved like run ids with one list call
filtered by `id_prefix`. Errors (unknown dataset or evaluation, unreachable server) print
one line and exit 1.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import typer
from rich.markup import escape

from tunix_rt.cli.client import ApiError, Client
from tunix_rt.cli.output import command, console, print_json
from tunix_rt.cli.run_ids import MAX_CANDIDATES_SHOWN, MIN_PREFIX_DIGITS, resolve_run_id, short_id
from tunix_rt.cli.runs_render import format_duration, format_when, styled_status
from tunix_rt.cli.table import Column, print_table

SERVER_OPTION = typer.Option(None, "--server", help="Server URL (default $TUNIX_RT_SERVER).")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of tables.")
EVALUATION_ARG = typer.Argument(
    ..., help="Evaluation id, or a unique prefix of it such as the 8-character short id."
)
HYPERPARAMETER_NAMES = {
    "algorithm": "algo",
    "learning_rate": "lr",
    "batch_size": "bs",
    "max_steps": "steps",
    "num_epochs": "epochs",
    "lora_rank": "lora",
    "seed": "seed",
}
MAX_CELL_CHARS = 60

LEADERBOARD_COLUMNS = (
    Column("RANK", justify="right"),
    Column("EVALUATION"),
    Column("RUN"),
    Column("VALUE", justify="right"),
    Column("95% CI"),
    Column("N", justify="right"),
    Column("MODEL", fold=4),
    Column("STEP", justify="right", fold=5),
    Column("HYPER-PARAMETERS", fold=2),
    Column("WALL", justify="right", fold=3),
    Column("CREATED", fold=1),
)
LIST_COLUMNS = (
    Column("EVALUATION"),
    Column("STATUS"),
    Column("EXACT MATCH", justify="right"),
    Column("95% CI"),
    Column("N", justify="right"),
    Column("DATASET", fold=4),
    Column("RUN", fold=5),
    Column("STEP", justify="right", fold=6),
    Column("FORMAT OK", justify="right", fold=3),
    Column("WALL", justify="right", fold=2),
    Column("CREATED", fold=1),
)
CLASS_COLUMNS = (
    Column("EXPECTED"),
    Column("N", justify="right"),
    Column("EXACT MATCH", justify="right"),
    Column("95% CI"),
    Column("FORMAT OK", justify="right"),
)
EXAMPLE_COLUMNS = (
    Column("#", justify="right"),
    Column("OK"),
    Column("EXPECTED"),
    Column("EXTRACTED"),
    Column("PROMPT", fold=2),
    Column("GENERATED", fold=1),
)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def interval(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"{low:.1%}-{high:.1%}"


def cell(value: Any, max_chars: int = MAX_CELL_CHARS) -> str:
    """One line of plain text, markup escaped, cut with an ellipsis past max_chars."""
    text = " ".join(str(value).split()) if value is not None else "-"
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return escape(text) or "-"


def hyperparameters(values: dict[str, Any]) -> str:
    return " ".join(f"{HYPERPARAMETER_NAMES.get(k, k)}={v}" for k, v in values.items()) or "-"


def resolve_evaluation_id(client: Client, ref: str) -> str:
    """The full evaluation id REF names; ApiError (exit 1) when it names none or several."""
    ref = ref.strip()
    try:
        return str(uuid.UUID(ref))
    except ValueError:
        pass
    digits = ref.replace("-", "")
    if len(digits) < MIN_PREFIX_DIGITS or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise ApiError(
            f"not an evaluation id: {ref!r} (an evaluation id or its first "
            f"{MIN_PREFIX_DIGITS}+ hex digits, see `tunix-rt eval list`)"
        )
    page = client.get_json(
        "/api/evaluations", params={"id_prefix": ref, "limit": MAX_CANDIDATES_SHOWN + 1}
    )
    matches: list[dict[str, Any]] = page["data"]
    if not matches:
        raise ApiError(f"no evaluation id starts with {ref!r} (see `tunix-rt eval list`)")
    if len(matches) > 1:
        listed = "\n".join(
            f"  {e['evaluation_id']}  {e['status']}  {e['dataset_key']}"
            for e in matches[:MAX_CANDIDATES_SHOWN]
        )
        more = " and more" if page["total"] > MAX_CANDIDATES_SHOWN else ""
        raise ApiError(
            f"{ref!r} matches several evaluations{more}; give more digits of one of:\n{listed}"
        )
    return str(matches[0]["evaluation_id"])


def _check_dataset_exists(client: Client, dataset_key: str) -> None:
    try:
        client.get_json(f"/api/datasets/{quote(dataset_key, safe='')}")
    except ApiError as exc:
        if exc.status_code == 404:
            raise ApiError(
                f"unknown dataset {dataset_key!r} (see `tunix-rt datasets list`)", 404
            ) from exc
        raise


@command
def leaderboard(
    dataset: str = typer.Argument(..., help="Dataset key, e.g. duel-v1."),
    metric: str = typer.Option("exact_match", "--metric", help="exact_match or format_ok."),
    limit: int = typer.Option(20, "--limit", min=1, max=500, help="Show the best N."),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """The dataset's completed evaluations ranked best first, with 95% Wilson intervals."""
    if metric not in ("exact_match", "format_ok"):
        raise ApiError(f"--metric: must be exact_match or format_ok, not {metric!r}")
    with Client(server) as client:
        board = client.get_json(
            "/api/leaderboard", params={"dataset_key": dataset, "metric": metric, "limit": limit}
        )
        if not board["data"]:
            _check_dataset_exists(client, dataset)
    if as_json:
        print_json(board)
        return
    if not board["data"]:
        console.print(f"no completed evaluations on {escape(dataset)} yet", highlight=False)
        return
    console.print(
        f"{escape(dataset)}: {metric}, best first (95% Wilson intervals)", highlight=False
    )
    rows = [
        [
            str(entry["rank"]),
            short_id(str(entry["evaluation_id"])),
            cell(entry["run_name"] or (short_id(entry["run_id"]) if entry["run_id"] else "-")),
            f"{entry['value']:.1%}",
            interval(entry["ci_low"], entry["ci_high"]),
            str(entry["n"]),
            cell(entry["model"]),
            "-" if entry["step"] is None else str(entry["step"]),
            escape(hyperparameters(entry["hyperparameters"])),
            format_duration(entry["wall_s"]),
            format_when(entry["created_at"]),
        ]
        for entry in board["data"]
    ]
    print_table(console, LEADERBOARD_COLUMNS, rows)


@command
def list_evaluations(
    run: str | None = typer.Option(None, "--run", help="Only this run's (id or short id)."),
    dataset: str | None = typer.Option(None, "--dataset", help="Only this dataset's."),
    limit: int = typer.Option(20, "--limit", min=1, max=500),
    offset: int = typer.Option(0, "--offset", min=0),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List evaluation records, newest first."""
    params: dict[str, str | int] = {"limit": limit, "offset": offset}
    with Client(server) as client:
        if run:
            params["run_id"] = resolve_run_id(client, run)
        if dataset:
            params["dataset_key"] = dataset
        page = client.get_json("/api/evaluations", params=params)
    if as_json:
        print_json(page)
        return
    if not page["data"]:
        console.print("no evaluations")
        return
    rows = [
        [
            short_id(str(e["evaluation_id"])),
            styled_status(str(e["status"])),
            percent(e["summary"]["exact_match"]),
            interval(e["summary"]["ci_low"], e["summary"]["ci_high"]),
            str(e["summary"]["n"]),
            cell(e["dataset_key"]),
            short_id(str(e["run_id"])) if e["run_id"] else "-",
            "-" if e["step"] is None else str(e["step"]),
            percent(e["summary"]["format_ok"]),
            format_duration(e["wall_s"]),
            format_when(e["created_at"]),
        ]
        for e in page["data"]
    ]
    print_table(console, LIST_COLUMNS, rows)
    if page.get("next_offset") is not None:
        console.print(f"[dim]{page['total']} in all; more: --offset {page['next_offset']}[/dim]")


def _print_record(evaluation: dict[str, Any]) -> None:
    s = evaluation["summary"]
    fields = [
        ("evaluation", str(evaluation["evaluation_id"])),
        ("status", styled_status(str(evaluation["status"]))),
        ("run", str(evaluation["run_id"] or "-")),
        ("dataset", f"{escape(str(evaluation['dataset_key']))} ({evaluation['split']} split)"),
        ("step", "-" if evaluation["step"] is None else str(evaluation["step"])),
        ("checkpoint", escape(str(evaluation["checkpoint"] or "-"))),
        ("scorer", escape(str(evaluation["scorer_version"]))),
        (
            "exact match",
            f"{percent(s['exact_match'])} (95% CI {interval(s['ci_low'], s['ci_high'])})",
        ),
        ("format ok", percent(s["format_ok"])),
        ("examples", str(s["n"])),
        ("wall", format_duration(evaluation["wall_s"])),
        ("created", format_when(evaluation["created_at"])),
    ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        console.print(f"[bold]{name.ljust(width)}[/bold]  {value}", highlight=False)


def _print_classes(by_class: dict[str, dict[str, Any]]) -> None:
    ordered = sorted(by_class.items(), key=lambda item: (-item[1]["n"], item[0]))
    rows = [
        [
            cell(name),
            str(c["n"]),
            percent(c["exact_match"]),
            interval(c.get("ci_low"), c.get("ci_high")),
            percent(c["format_ok"]),
        ]
        for name, c in ordered
    ]
    console.print("\n[bold]by expected answer[/bold]")
    print_table(console, CLASS_COLUMNS, rows)


def _print_confusion(confusion: dict[str, Any]) -> None:
    classes: list[str] = confusion["classes"]
    extra = [
        (name, key)
        for name, key in (("other", "other"), ("(none)", "none"))
        if any(row[key] for row in confusion["rows"])
    ]
    columns = (
        Column("EXPECTED \\ EXTRACTED"),
        *(Column(cell(name, 20), justify="right") for name in classes),
        *(Column(name, justify="right") for name, _ in extra),
    )
    rows = [
        [
            cell(row["expected"], 20),
            *(str(count) for count in row["counts"]),
            *(str(row[key]) for _, key in extra),
        ]
        for row in confusion["rows"]
    ]
    console.print("\n[bold]confusion[/bold] (rows: expected answer; columns: extracted)")
    print_table(console, columns, rows)


def _print_examples(page: dict[str, Any], wrong: bool) -> None:
    label = "wrong examples" if wrong else "examples"
    console.print(f"\n[bold]{label}[/bold] ({len(page['data'])} of {page['total']})")
    if not page["data"]:
        console.print("no wrong answers" if wrong else "no examples recorded")
        return
    rows = [
        [
            str(ex["position"] + 1),
            ("yes" if ex["correct"] else "[red]no[/red]")
            + ("" if ex["format_ok"] else " (format)"),
            cell(ex["expected"], 30),
            cell(ex["extracted"], 30),
            cell(ex["prompt"]),
            cell(ex["generated"]),
        ]
        for ex in page["data"]
    ]
    print_table(console, EXAMPLE_COLUMNS, rows)


@command
def show(
    evaluation: str = EVALUATION_ARG,
    wrong: bool = typer.Option(False, "--wrong", help="Only the examples answered wrong."),
    examples: int = typer.Option(20, "--examples", min=0, max=500, help="How many examples."),
    server: str | None = SERVER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one evaluation: its record, per-class results, confusion table and examples."""
    with Client(server) as client:
        evaluation_id = resolve_evaluation_id(client, evaluation)
        record = client.get_json(f"/api/evaluations/{evaluation_id}")
        confusion: dict[str, Any] | None = None
        try:
            confusion = client.get_json(f"/api/evaluations/{evaluation_id}/confusion")
        except ApiError as exc:
            if exc.status_code != 409:  # 409: too many classes for a table
                raise
        page: dict[str, Any] = {"data": [], "total": record["summary"]["n"]}
        if examples:
            params: dict[str, Any] = {"limit": examples}
            if wrong:
                params["correct"] = "false"
            page = client.get_json(f"/api/evaluations/{evaluation_id}/examples", params=params)
    if as_json:
        print_json({**record, "confusion": confusion, "examples": page})
        return
    _print_record(record)
    by_class = record["summary"].get("by_expected_answer")
    if by_class:
        _print_classes(by_class)
    if confusion and confusion["rows"]:
        _print_confusion(confusion)
    if examples:
        _print_examples(page, wrong)
