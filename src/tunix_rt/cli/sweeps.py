"""`tunix-rt sweeps`: start a hyper-parameter sweep from a JSON spec and follow its trials;
list, show and cancel sweeps.

`create SPEC.json --follow` shows a live trials table on a terminal (one line per trial
change when the output is a pipe) and ends with the final table and the best trial; it
exits 0 when the sweep completed, 1 when it failed or was cancelled.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import typer
from rich.live import Live
from rich.table import Table

from tunix_rt.cli.client import ApiError, Client
from tunix_rt.cli.output import command, console, fail, print_json
from tunix_rt.cli.table import Column, print_table

app = typer.Typer(help="Hyper-parameter sweeps: create, list, show, cancel.", no_args_is_help=True)

SERVER_OPTION = typer.Option(None, "--server", help="Server URL (default $TUNIX_RT_SERVER).")
FOLLOW_POLL_S = 1.0
MIN_PREFIX_DIGITS = 4
MAX_SPEC_BYTES = 1024 * 1024
_HEX_PREFIX = re.compile(r"^[0-9a-fA-F-]+$")

LIST_COLUMNS = (
    Column("SWEEP"),
    Column("STATUS"),
    Column("TRIALS", justify="right"),
    Column("BEST", justify="right"),
    Column("NAME", fold=1),
    Column("SAMPLER", fold=2),
    Column("DATASET", fold=3),
)


def resolve_sweep_id(client: Client, ref: str) -> str:
    ref = ref.strip()
    try:
        return str(uuid.UUID(ref))
    except ValueError:
        pass
    if not _HEX_PREFIX.match(ref) or len(ref.replace("-", "")) < MIN_PREFIX_DIGITS:
        raise ApiError(f"not a sweep id: {ref!r} (a sweep id or its first 4+ hex digits)")
    sweeps = client.get_json("/api/sweeps", params={"limit": 200})["sweeps"]
    matches = [s["sweep_id"] for s in sweeps if str(s["sweep_id"]).startswith(ref.lower())]
    if not matches:
        raise ApiError(f"no sweep id starts with {ref!r} (see `tunix-rt sweeps list`)")
    if len(matches) > 1:
        raise ApiError(f"{ref!r} matches several sweeps: {', '.join(matches)}")
    return str(matches[0])


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _trial_cells(sweep: dict[str, Any], trial: dict[str, Any]) -> list[str]:
    best = sweep.get("best_trial") or {}
    params = " ".join(f"{k}={_fmt(v)}" for k, v in trial["params"].items())
    last = trial["intermediate"][-1] if trial["intermediate"] else None
    state = trial["state"]
    if state == "pruned" and trial.get("pruned_step") is not None:
        state = f"pruned@{trial['pruned_step']}"
    return [
        ("*" if best.get("number") == trial["number"] else "") + str(trial["number"]),
        state,
        _fmt(trial["value"]),
        "-" if last is None else f"{_fmt(last[1])}@{last[0]}",
        params,
        str(trial["run_id"])[:8] if trial["run_id"] else "-",
    ]


TRIAL_HEADERS = ("#", "STATE", "VALUE", "LAST EVAL", "PARAMS", "RUN")


def _summary(sweep: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in sorted(sweep["counts"].items()))
    objective = sweep["objective"]
    return (
        f"sweep {sweep['sweep_id']} {sweep['status']}: {len(sweep['trials'])}/"
        f"{sweep['n_trials']} trials ({counts or 'none yet'}), {objective['direction']} "
        f"{objective['metric']}, sampler {sweep['sampler']}, pruner {sweep['pruner']}"
    )


def _rich_table(sweep: dict[str, Any]) -> Table:
    table = Table(title=_summary(sweep), title_justify="left")
    for header in TRIAL_HEADERS:
        table.add_column(header, justify="right" if header in ("#", "VALUE") else "left")
    for trial in sweep["trials"]:
        table.add_row(*_trial_cells(sweep, trial))
    return table


def print_sweep(sweep: dict[str, Any]) -> None:
    console.print(_summary(sweep), highlight=False)
    columns = [Column(h, justify="right" if h in ("#", "VALUE") else "left") for h in TRIAL_HEADERS]
    if sweep["trials"]:
        print_table(console, columns, [_trial_cells(sweep, t) for t in sweep["trials"]])
    best = sweep.get("best_trial")
    if best is not None:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best["params"].items())
        console.print(
            f"best: trial {best['number']} value {_fmt(best['value'])} ({params}) "
            f"run {best['run_id']}",
            highlight=False,
        )
    if sweep.get("error"):
        console.print(f"error: {sweep['error']}", highlight=False)


def follow(client: Client, sweep_id: str) -> dict[str, Any]:
    """Poll the sweep until it ends, showing its trials; returns the final sweep."""
    path = f"/api/sweeps/{sweep_id}"
    sweep: dict[str, Any] = client.get_json(path)
    if console.is_terminal:
        with Live(_rich_table(sweep), console=console, refresh_per_second=4) as live:
            while sweep["status"] == "running":
                time.sleep(FOLLOW_POLL_S)
                sweep = client.get_json(path)
                live.update(_rich_table(sweep))
        return sweep
    seen: dict[int, str] = {}
    while True:
        for trial in sweep["trials"]:
            state = trial["state"]
            if seen.get(trial["number"]) != state:
                seen[trial["number"]] = state
                value = f" value {_fmt(trial['value'])}" if trial["value"] is not None else ""
                params = ", ".join(f"{k}={_fmt(v)}" for k, v in trial["params"].items())
                console.print(f"trial {trial['number']} {state}{value} ({params})", highlight=False)
        if sweep["status"] != "running":
            return sweep
        time.sleep(FOLLOW_POLL_S)
        sweep = client.get_json(path)


def _read_spec(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()[: MAX_SPEC_BYTES + 1]
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    if len(text) > MAX_SPEC_BYTES:
        fail(f"{path} is larger than {MAX_SPEC_BYTES} bytes")
    try:
        spec = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{path} is not valid JSON: {exc}")
    if not isinstance(spec, dict):
        fail(f"{path} must hold a JSON object (the sweep request)")
    return spec


def _describe_422(exc: ApiError) -> str:
    """The API's message, and every other field error of a refused spec on its own line."""
    body = exc.body
    errors = body.get("errors") if isinstance(body, dict) else None
    if exc.status_code != 422 or not isinstance(errors, list) or len(errors) < 2:
        return exc.message
    lines = ["the sweep spec is invalid:"]
    for err in errors:
        if isinstance(err, dict):
            lines.append(f"  {err.get('field')}: {err.get('message')}")
    return "\n".join(lines)


@app.command("create")
@command
def create(
    spec_path: Path = typer.Argument(..., help="The sweep request as JSON (see docs/api.md)."),
    follow_flag: bool = typer.Option(False, "--follow", "-f", help="Follow the trials live."),
    json_out: bool = typer.Option(False, "--json", help="Print the response as JSON."),
    server: str | None = SERVER_OPTION,
) -> None:
    """Start a sweep: Optuna asks, trials run as ordinary runs on the queue."""
    spec = _read_spec(spec_path)
    with Client(server) as client:
        try:
            created = client.post_json("/api/sweeps", spec)
        except ApiError as exc:
            fail(_describe_422(exc))
        if json_out and not follow_flag:
            print_json(created)
            return
        sweep_id = str(created["sweep_id"])
        console.print(f"sweep {sweep_id} {created['status']}", highlight=False)
        if not follow_flag:
            return
        final = follow(client, sweep_id)
    if json_out:
        print_json(final)
    else:
        print_sweep(final)
    if final["status"] != "completed":
        raise typer.Exit(1)


@app.command("list")
@command
def list_sweeps(
    status: str | None = typer.Option(None, "--status", help="running|completed|cancelled|failed"),
    limit: int = typer.Option(50, "--limit", min=1, max=200),
    json_out: bool = typer.Option(False, "--json", help="Print the response as JSON."),
    server: str | None = SERVER_OPTION,
) -> None:
    """Sweeps, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if status is not None:
        params["status"] = status
    with Client(server) as client:
        sweeps = client.get_json("/api/sweeps", params=params)["sweeps"]
    if json_out:
        print_json(sweeps)
        return
    if not sweeps:
        console.print("no sweeps")
        return
    rows = [
        [
            str(s["sweep_id"])[:8],
            s["status"],
            f"{sum(s['counts'].values())}/{s['n_trials']}",
            _fmt(s["best_value"]),
            s["name"] or "-",
            f"{s['sampler']}/{s['pruner']}",
            s["dataset_key"],
        ]
        for s in sweeps
    ]
    print_table(console, LIST_COLUMNS, rows)


@app.command("show")
@command
def show(
    sweep: str = typer.Argument(..., help="Sweep id (or its first 4+ hex digits)."),
    json_out: bool = typer.Option(False, "--json", help="Print the response as JSON."),
    server: str | None = SERVER_OPTION,
) -> None:
    """A sweep's trials (params, state, value, last mid-training eval) and its best."""
    with Client(server) as client:
        data = client.get_json(f"/api/sweeps/{resolve_sweep_id(client, sweep)}")
    if json_out:
        print_json(data)
    else:
        print_sweep(data)


@app.command("cancel")
@command
def cancel(
    sweep: str = typer.Argument(..., help="Sweep id (or its first 4+ hex digits)."),
    server: str | None = SERVER_OPTION,
) -> None:
    """Cancel a sweep and its pending and running trials."""
    with Client(server) as client:
        data = client.post_json(f"/api/sweeps/{resolve_sweep_id(client, sweep)}/cancel")
    console.print(f"sweep {data['sweep_id']} {data['status']}", highlight=False)
