"""`headstart reproduce RUN_ID`: re-run a tracked fit with its recorded config and compare the metrics."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from headstart.cli.lazy import api
from headstart.cli.options import Json
from headstart.cli.output import command_errors, console, print_json, print_notes


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def reproduce(
    run_id: Annotated[
        str, typer.Argument(metavar="RUN_ID", help="Run id (or a unique prefix) of a `fit` run, see `headstart runs`.")
    ],
    out: Annotated[
        str | None,
        typer.Option("--out", "-o", help="Folder for the new bundle (default: beside the run's bundle)."),
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="The data if it moved (it must still match the run's fingerprint).")
    ] = None,
    as_json: Json = False,
) -> None:
    """Re-execute a recorded fit; refuse when its data changed; report whether the metrics match."""
    with command_errors(as_json):
        result = api.reproduce(run_id, out=out, data=data, progress=not as_json)
        if as_json:
            print_json(result.to_dict())
            return
        table = Table(title=f"run {result.run_id} reproduced as {result.new_run_id or '(untracked)'}")
        for column in ("metric", "recorded", "new", "difference"):
            table.add_column(column, justify="left" if column == "metric" else "right")
        for name, row in result.metrics.items():
            table.add_row(name, _num(row["recorded"]), _num(row["new"]), _num(row["difference"]))
        console.print(table)
        if result.matches:
            console.print("[bold green]metrics match exactly[/]")
        else:
            console.print("[bold yellow]metrics differ[/] (see the difference column)")
        for name, v in result.versions.items():
            console.print(f"version differs: {name} {v['recorded']} -> {v['current']}")
        print_notes(result.notes)
        console.print(f"bundle: [bold]{result.bundle}[/]")
