"""`headstart promote CANDIDATE --over CURRENT --on DATA`: the promotion gate."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from headstart.cli.lazy import api
from headstart.cli.options import BatchSize, Json, LabelColumn, OnBad, TextColumn, Threads, default, run_options
from headstart.cli.output import command_errors, console, print_json, print_notes
from headstart.config import EvaluateConfig, PromoteGate
from headstart.errors import PromotionRefused


def _render(doc: dict[str, Any]) -> None:
    table = Table(title=f"{doc['candidate']} (candidate) vs {doc['current']} (current) on {doc['data']} (n={doc['n']})")
    for column in ("class", "current F1", "candidate F1", "change", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for c in doc["classes"]:
        style = "red" if c["label"] in doc["regressed_classes"] else ("green" if c["change"] > 0 else "")
        change = f"[{style}]{c['change']:+.3f}[/]" if style else f"{c['change']:+.3f}"
        table.add_row(c["label"], f"{c['current_f1']:.3f}", f"{c['candidate_f1']:.3f}", change, str(c["support"]))
    for label in doc.get("unchecked_classes", []):
        table.add_row(f"[yellow]{label}[/]", "-", "-", "[yellow]not checked[/]", "0")
    table.add_section()
    for name in ("accuracy", "macro_f1", "ece"):
        old, new = doc["current_metrics"][name], doc["candidate_metrics"][name]
        label = name + (" (lower is better)" if name == "ece" else "")
        label = f"[bold]{label}[/]" if name == doc["metric"] else label
        table.add_row(label, f"{old:.3f}", f"{new:.3f}", f"{new - old:+.3f}", "")
    console.print(table)


def promote(
    candidate: Annotated[
        str, typer.Argument(metavar="CANDIDATE", help="The new bundle that should replace the current one.")
    ],
    over: Annotated[str, typer.Option("--over", help="The bundle in production now.")],
    on: Annotated[str, typer.Option("--on", help="Labelled data to compare both on (a holdout, recent data).")],
    metric: Annotated[str, typer.Option("--metric", help="Metric to beat: macro_f1, accuracy or ece.")] = default(
        PromoteGate, "metric"
    ),
    margin: Annotated[float, typer.Option("--margin", help="The candidate must be better by at least this.")] = default(
        PromoteGate, "margin"
    ),
    class_tolerance: Annotated[
        float, typer.Option("--class-tolerance", help="Refuse when any class's F1 drops by more than this.")
    ] = default(PromoteGate, "class_tolerance"),
    model_name: Annotated[
        str, typer.Option("--model-name", help="MLflow registered model whose `production` alias is moved.")
    ] = default(PromoteGate, "model_name"),
    allow_missing_classes: Annotated[
        bool,
        typer.Option(
            "--allow-missing-classes", help="Promote even if DATA has no example of some class (its F1 goes unchecked)."
        ),
    ] = default(PromoteGate, "allow_missing_classes"),
    allow_training_data: Annotated[
        bool,
        typer.Option("--allow-training-data", help="Compare even when DATA is the data the candidate was fitted on."),
    ] = default(PromoteGate, "allow_training_data"),
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="test: compare on DATA's test split (the default when DATA marks one); all: on every item.",
        ),
    ] = default(EvaluateConfig, "split"),
    text_column: TextColumn = default(EvaluateConfig, "text_column"),
    label_column: LabelColumn = default(EvaluateConfig, "label_column"),
    on_bad: OnBad = default(EvaluateConfig, "on_bad"),
    threads: Threads = default(EvaluateConfig, "threads"),
    batch_size: BatchSize = default(EvaluateConfig, "batch_size"),
    as_json: Json = False,
) -> None:
    """Promote CANDIDATE over CURRENT only if it wins on DATA overall and no class regresses (exit 6 if not)."""
    with command_errors(as_json):
        try:
            result = api.promote(
                candidate,
                over,
                on,
                metric=metric,
                margin=margin,
                class_tolerance=class_tolerance,
                model_name=model_name,
                allow_missing_classes=allow_missing_classes,
                allow_training_data=allow_training_data,
                split=split,
                text_column=text_column,
                label_column=label_column,
                **run_options(on_bad=on_bad, threads=threads, batch_size=batch_size, as_json=as_json),
            )
        except PromotionRefused as refused:
            if not as_json:
                _render(refused.comparison)
                print_notes(refused.comparison.get("notes") or [])
            raise
        if as_json:
            print_json(result.to_dict())
            return
        doc = result.to_dict()
        _render(doc)
        console.print(f"[bold green]promoted[/]: {'; '.join(doc['reasons'])}")
        registry = doc["recorded"].get("registry")
        if registry:
            console.print(f"registry: {registry['model']} version {registry['version']} is now @{registry['alias']}")
        console.print(f"decision: {doc['recorded'].get('file')}")
        print_notes(doc["notes"])
