"""`headstart runs` and `headstart runs show ID`: the tracked runs (MLflow store, see headstart.tracking)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from rich.table import Table

from headstart.cli.lazy import api
from headstart.cli.options import Json
from headstart.cli.output import command_errors, console, fmt, print_json

runs_app = typer.Typer(
    help="List tracked runs (filter by data, strategy, kind); `runs show ID` gives one run's details.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _num(value: float | None) -> str:
    return "" if value is None else fmt(value)


@runs_app.callback()
def runs(
    ctx: typer.Context,
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Only runs on this dataset (a path, or a fingerprint prefix).")
    ] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", "-s", help="Only runs of this strategy.")] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only runs of this kind: fit, study, rank, expand.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many runs, newest first.")] = 20,
    as_json: Json = False,
) -> None:
    """Tracked runs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    with command_errors(as_json):
        records = api.runs(data=data, strategy=strategy, kind=kind, limit=limit)
        if as_json:
            print_json({"runs": [r.summary() for r in records]})
            return
        if not records:
            console.print(
                f"no runs (or none match) in {api.tracking_store()}; runs go to ./headstart-runs where `fit` ran, "
                "or to $HEADSTART_TRACKING_URI",
                soft_wrap=True,
            )
            return
        table = Table(title=f"{len(records)} run(s), newest first")
        for column in ("run", "started (UTC)", "kind", "strategy", "backbone", "data", "acc", "F1", "status"):
            justify: Literal["right", "left"] = "right" if column in ("acc", "F1") else "left"
            table.add_column(column, justify=justify, no_wrap=column in ("run", "started (UTC)"))
        for r in records:
            name = r.data_path.rstrip("/").rsplit("/", 1)[-1]
            table.add_row(
                r.run_id[:8] + (" [green]promoted[/]" if r.promoted else ""),
                r.started.replace("T", " ")[:16],
                r.kind,
                r.strategy,
                r.backbone,
                f"{name} ({r.data_fingerprint[:8]})" if r.data_fingerprint else name,
                _num(r.metrics.get("test_accuracy")),
                _num(r.metrics.get("test_macro_f1", r.metrics.get("test_entity_f1"))),  # fields: entity F1
                r.status.lower(),
            )
        console.print(table)


@runs_app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="Run id (or a unique prefix) from `headstart runs`.")],
    as_json: Json = False,
) -> None:
    """One run's params, metrics, tags and artifacts."""
    with command_errors(as_json):
        record = api.run_details(run_id)
        if as_json:
            print_json(record.to_dict())
            return
        console.print(
            f"[bold]run {record.run_id}[/] ({record.kind}, {record.status.lower()}, started {record.started})"
        )
        for title, values in (("params", record.params), ("tags", record.tags)):
            table = Table(title=title, show_header=False)
            table.add_column("name")
            table.add_column("value", overflow="fold")
            for key in sorted(values):
                table.add_row(key, values[key])
            console.print(table)
        metrics = Table(title="metrics (last value)", show_header=False)
        metrics.add_column("name")
        metrics.add_column("value", justify="right")
        for key in sorted(record.metrics):
            metrics.add_row(key, f"{record.metrics[key]:.6g}")
        console.print(metrics)
        console.print("artifacts: " + (", ".join(record.artifacts) or "none"))
        console.print(f"artifact root: {record.artifact_uri}")
