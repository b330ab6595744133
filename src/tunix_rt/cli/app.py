"""The root Typer app; each resource registers its own sub-app here."""

from __future__ import annotations

import typer

from tunix_rt.cli import datasets, db, demo, output, runs, server, sweeps, traces, worker
from tunix_rt.cli import eval as eval_cli

app = typer.Typer(
    name="tunix-rt",
    help="tunix-rt: reasoning traces to trained models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.callback()(output.root_options)
server.register(app)
worker.register(app)
demo.register(app)
app.add_typer(db.app, name="db")
app.add_typer(traces.app, name="traces")
app.add_typer(datasets.app, name="datasets")
app.add_typer(runs.app, name="runs")
app.add_typer(eval_cli.app, name="eval")
app.add_typer(sweeps.app, name="sweeps")
