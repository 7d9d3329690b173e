"""The `headstart` Typer app: registers one function per command."""

from __future__ import annotations

from typing import Annotated

import typer

from headstart import __version__
from headstart.cli.evaluate import evaluate
from headstart.cli.expand import expand
from headstart.cli.export import export
from headstart.cli.fit import fit
from headstart.cli.inspect import inspect
from headstart.cli.models import models
from headstart.cli.predict import predict
from headstart.cli.promote import promote
from headstart.cli.rank import rank
from headstart.cli.reproduce import reproduce
from headstart.cli.runs import runs_app
from headstart.cli.serve import serve
from headstart.cli.study import study

app = typer.Typer(
    name="headstart",
    help="Transfer learning for small labelled datasets: adapt a pretrained network, prove the gain, serve it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

app.command("models")(models)
app.command("inspect")(inspect)
app.command("fit")(fit)
app.command("evaluate")(evaluate)
app.command("predict")(predict)
app.command("serve")(serve)
app.command("export")(export)
app.command("rank")(rank)
app.add_typer(runs_app, name="runs")
app.command("reproduce")(reproduce)
app.command("promote")(promote)
app.command("expand")(expand)
app.command("study")(study)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"headstart {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Transfer learning for small labelled datasets."""
