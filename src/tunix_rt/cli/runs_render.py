"""Human-readable views of runs, artifacts and eval summaries (Rich tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tunix_rt.cli.table import Column, print_table

# Summary fields that are fractions of examples, shown as percentages. By name, never by
# value: 0.635 under wall_s is 0.6 seconds, not 63.5 %.
FRACTION_FIELDS = frozenset({"exact_match", "format_ok", "accuracy", "pass_rate"})
FRACTION_SUFFIXES = ("_rate", "_accuracy", "_fraction")
DURATION_SUFFIX = "_s"
STATUS_STYLES = {
    "pending": "yellow",
    "running": "cyan",
    "cancel_requested": "magenta",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
    "timeout": "red",
}


def styled_status(status: str) -> str:
    return f"[{STATUS_STYLES.get(status, 'white')}]{status}[/]"


def format_when(value: str | None) -> str:
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def format_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def format_steps(run: dict[str, Any]) -> str:
    last, total = run.get("last_step"), run.get("max_steps")
    if last is None and total is None:
        return "-"
    return f"{last if last is not None else 0}/{total if total is not None else '?'}"


def format_accuracy(run: dict[str, Any]) -> str:
    summary = run.get("eval") or {}
    value = summary.get("exact_match")
    return f"{value:.1%}" if isinstance(value, int | float) else "-"


RUN_COLUMNS = (
    Column("RUN ID"),
    Column("STATUS"),
    Column("STEP", justify="right"),
    Column("EVAL", justify="right"),
    Column("DATASET", fold=3),
    Column("MODEL", fold=4),
    Column("CREATED", fold=2),
    Column("DURATION", fold=1, justify="right"),
)
# Shown only when a run on the page has a name / tags; they fold first on a narrow console.
NAME_COLUMN = Column("NAME", fold=5)
TAGS_COLUMN = Column("TAGS", fold=6)


def format_tags(tags: list[str] | None) -> str:
    return ", ".join(tags) if tags else "-"


def print_run_table(console: Console, runs: list[dict[str, Any]]) -> None:
    rows = [
        [
            str(run["run_id"]),
            styled_status(str(run["status"])),
            format_steps(run),
            format_accuracy(run),
            _escape(str(run["dataset_key"])),
            _escape(str(run["model_id"])) + (" (dry run)" if run.get("dry_run") else ""),
            format_when(run.get("created_at")),
            format_duration(run.get("duration_s")),
        ]
        for run in runs
    ]
    columns = list(RUN_COLUMNS)
    if any(run.get("name") for run in runs):
        columns.insert(1, NAME_COLUMN)
        for row, run in zip(rows, runs, strict=True):
            row.insert(1, _escape(str(run.get("name") or "-")))
    if any(run.get("tags") for run in runs):
        columns.append(TAGS_COLUMN)
        for row, run in zip(rows, runs, strict=True):
            row.append(_escape(format_tags(run.get("tags"))))
    print_table(console, columns, rows)


def print_run_labels(console: Console, run: dict[str, Any]) -> None:
    """A run's name, tags and notes (after `runs edit`)."""
    console.print(f"run [bold]{run['run_id']}[/bold]", highlight=False)
    console.print(f"  name   {escape(str(run.get('name') or '-'))}", highlight=False)
    console.print(f"  tags   {escape(format_tags(run.get('tags')))}", highlight=False)
    notes = str(run.get("notes") or "")
    if notes:
        console.print("  notes", highlight=False)
        console.print(_indent(notes), markup=False, highlight=False)
    else:
        console.print("  notes  -", highlight=False)


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.rstrip().splitlines())


def print_run_detail(console: Console, run: dict[str, Any], events: list[dict[str, Any]]) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str]] = [
        ("run id", str(run["run_id"])),
        ("name", escape(str(run.get("name") or "-"))),
        ("tags", escape(format_tags(run.get("tags")))),
        ("status", styled_status(str(run["status"]))),
        ("dataset", escape(str(run["dataset_key"]))),
        ("model", escape(str(run["model_id"]))),
        ("dry run", "yes" if run.get("dry_run") else "no"),
        ("attempt", f"{run.get('attempt', 0)}/{run.get('max_attempts', '?')}"),
        ("worker", escape(str(run.get("worker_id") or "-"))),
        ("steps", format_steps(run)),
        ("created", format_when(run.get("created_at"))),
        ("started", format_when(run.get("started_at"))),
        ("finished", format_when(run.get("finished_at"))),
        ("duration", format_duration(run.get("duration_s"))),
        ("exit code", str(run["exit_code"]) if run.get("exit_code") is not None else "-"),
        ("log lines", f"{run.get('log_lines', 0)} ({run.get('log_dropped_lines', 0)} dropped)"),
    ]
    if run.get("retry_of"):
        rows.append(("retry of", str(run["retry_of"])))
    if run.get("kind", "train") != "train":
        rows.insert(3, ("kind", escape(str(run["kind"]))))
    if run.get("best_step") is not None:
        rows.append(("best", f"step {run['best_step']}: {run.get('best_value')}"))
    if run.get("error"):
        rows.append(("error", f"[red]{escape(str(run['error']))}[/red]"))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    if run.get("notes"):
        console.print("\n[bold]notes[/bold]")
        console.print(_indent(str(run["notes"])), markup=False, highlight=False)
    request = {k: v for k, v in (run.get("request") or {}).items() if v is not None}
    if request:
        shown = escape(", ".join(f"{k}={v}" for k, v in request.items()))
        console.print(f"\n[bold]request[/bold]  {shown}", highlight=False)
    if run.get("eval"):
        console.print()
        print_eval_summary(console, run["eval"])
    if events:
        console.print("\n[bold]history[/bold]")
        for event in events:
            reason = f" ({escape(str(event['reason']))})" if event.get("reason") else ""
            console.print(
                f"  {format_when(event.get('created_at'))}  "
                f"{event.get('from_status') or '-'} → {styled_status(str(event['to_status']))}"
                f"{reason}"
            )
    if run.get("stderr_tail"):
        console.print("\n[bold]stderr (tail)[/bold]")
        console.print(str(run["stderr_tail"]).rstrip(), markup=False, highlight=False)


def print_eval_summary(console: Console, summary: dict[str, Any]) -> None:
    console.print("[bold]evaluation[/bold] on held-out examples")
    rows: list[list[str]] = []
    for key, value in summary.items():
        if isinstance(value, dict):
            # Breakdowns (by_task, by_expected_answer): one row per group.
            for group, stats in value.items():
                rows.append([_escape(f"{key} · {group}"), _format_group(stats)])
        else:
            rows.append([_escape(key), _escape(format_metric(key, value))])
    print_table(console, (Column("METRIC"), Column("VALUE", justify="right")), rows)


def is_fraction_field(name: str) -> bool:
    return name in FRACTION_FIELDS or name.endswith(FRACTION_SUFFIXES)


def format_metric(name: str, value: Any) -> str:
    """A summary value by what its name says it is: a fraction, a duration, or a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if is_fraction_field(name):
        return f"{value:.1%}"
    if name.endswith(DURATION_SUFFIX):
        return format_duration(float(value))
    return str(value) if isinstance(value, int) else f"{value:.4g}"


def _format_group(stats: Any) -> str:
    if isinstance(stats, dict) and "exact_match" in stats:
        shown = format_metric("exact_match", stats["exact_match"])
        return f"{shown} (n={stats.get('n', '?')})"
    return _escape(str(stats))


def _escape(text: str) -> str:
    return escape(text)


ARTIFACT_COLUMNS = (
    Column("NAME"),
    Column("KIND", fold=1),
    Column("SIZE", justify="right"),
    Column("CREATED", fold=2),
    Column("ID", fold=3),
    Column("SHA256", fold=4),
)


def print_artifact_table(console: Console, artifacts: list[dict[str, Any]]) -> None:
    rows = []
    for artifact in artifacts:
        sha = artifact.get("sha256")
        rows.append(
            [
                _escape(str(artifact["name"])),
                str(artifact.get("kind", "file")),
                format_size(artifact.get("size_bytes")),
                format_when(artifact.get("created_at")),
                str(artifact["id"]),
                f"{sha[:12]}…" if sha else "-",
            ]
        )
    print_table(console, ARTIFACT_COLUMNS, rows)
