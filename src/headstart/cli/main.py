"""The `headstart` Typer app: registers one function per command."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from headstart.cli.evaluate import evaluate
from headstart.cli.expand import expand
from headstart.cli.export import export
from headstart.cli.fit import fit
from headstart.cli.inspect import inspect
from headstart.cli.models import models
from headstart.cli.output import print_json
from headstart.cli.predict import predict
from headstart.cli.promote import promote
from headstart.cli.rank import rank
from headstart.cli.reproduce import reproduce
from headstart.cli.runs import runs_app
from headstart.cli.serve import serve
from headstart.cli.study import study
from headstart.errors import UsageError
from headstart.provenance import VERSION as __version__

app = typer.Typer(
    name="headstart",
    help="Transfer learning for small labelled datasets: adapt a pretrained network, prove the gain, serve it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # plain Click help: it wraps at any width; Rich panels cut option names at 80 columns
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


def run() -> None:
    """The `headstart` console script: the app, with Click's own usage errors (an unknown option, a missing
    argument, a value out of range) as one JSON error document on stdout when `--json` was asked for."""
    args = sys.argv[1:]
    if "--json" not in args:
        app(prog_name="headstart")
        return
    try:
        code = app(args, prog_name="headstart", standalone_mode=False)
    except typer.Abort:
        raise SystemExit(130) from None
    except typer.TyperException as err:  # Click's parse errors (Typer vendors Click)
        command = next((a for a in args if not a.startswith("-")), "")
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        error = UsageError(
            message,
            expected="the options and arguments that `--help` lists",
            fix=f"run `headstart {command} --help`" if command else "run `headstart --help`",
        )
        print_json(error.to_dict())
        if hasattr(err, "show"):
            err.show()
        raise SystemExit(getattr(err, "exit_code", UsageError.exit_code)) from None
    raise SystemExit(code if isinstance(code, int) else 0)


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
