"""`headstart rank DATA`: transferability scores per (backbone, cut stage), best first, with their cost."""

from __future__ import annotations

import math
from typing import Annotated

import typer
from rich.table import Table

from headstart.cli.lazy import api
from headstart.cli.options import (
    BatchSize,
    EngineName,
    Json,
    LabelColumn,
    OnBad,
    RayAddress,
    Separator,
    Target,
    Task,
    TextColumn,
    Threads,
    Track,
    default,
    engine_options,
    run_options,
    split_csv,
)
from headstart.cli.output import command_errors, console, print_json, print_notes
from headstart.config import RankConfig
from headstart.score_names import METRICS, TASK_METRICS


def _fmt(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.3f}"


def rank(
    data: Annotated[
        str, typer.Argument(metavar="DATA", help="Image folder (<class>/<file>) or table (CSV/TSV/JSONL/Parquet).")
    ],
    backbones: Annotated[
        str | None,
        typer.Option("--backbones", "-b", help="Comma-separated backbones (default: installed ones of the modality)."),
    ] = default(RankConfig, "backbones"),
    cuts: Annotated[
        str, typer.Option("--cuts", help="'last', 'all', or comma-separated stage indices (1..n, -1) or names.")
    ] = default(RankConfig, "cuts"),
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            "-m",
            help=f"Sort by: {', '.join(METRICS)} (regression and multilabel: {', '.join(TASK_METRICS['regression'])}).",
        ),
    ] = default(RankConfig, "metric"),
    labels_per_class: Annotated[
        int | None, typer.Option("--labels-per-class", "-n", min=1, help="Score on this many labels per class.")
    ] = default(RankConfig, "labels_per_class"),
    max_items: Annotated[
        int, typer.Option("--max-items", min=2, help="Score a stratified sample of at most this many items.")
    ] = default(RankConfig, "max_items"),
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed for the split, budget and sample.")] = default(
        RankConfig, "seed"
    ),
    text_column: TextColumn = default(RankConfig, "text_column"),
    label_column: LabelColumn = default(RankConfig, "label_column"),
    task: Task = default(RankConfig, "task"),
    target: Target = default(RankConfig, "target"),
    separator: Separator = default(RankConfig, "separator"),
    on_bad: OnBad = default(RankConfig, "on_bad"),
    threads: Threads = default(RankConfig, "threads"),
    batch_size: BatchSize = default(RankConfig, "batch_size"),
    engine: EngineName = default(RankConfig, "engine"),
    ray_address: RayAddress = default(RankConfig, "ray_address"),
    track: Track = default(RankConfig, "track"),
    as_json: Json = False,
) -> None:
    """Rank pretrained backbones and cut stages on DATA before training (LogME, kNN, H-score, TransRate, NCE, LEEP).

    Regression and multi-label data get LogME and kNN only (kNN = cross-validated R² or micro-F1).
    """
    from headstart.tasks import Outputs, get_task  # on use: --help stays light

    with command_errors(as_json):
        result = api.rank(
            data,
            backbones=split_csv(backbones),
            cuts=cuts,
            metric=metric,
            labels_per_class=labels_per_class,
            max_items=max_items,
            seed=seed,
            text_column=text_column,
            label_column=label_column,
            task=task,
            target=target,
            separator=separator,
            track=track,
            **run_options(on_bad=on_bad, threads=threads, batch_size=batch_size, as_json=as_json),
            **engine_options(engine, ray_address),
        )
        if as_json:
            print_json(result.to_dict())
            return
        metrics = get_task(result.task).transfer_scores
        kind = get_task(result.task)
        about = f"{result.n_classes} {kind.label_word}s" if kind.has_classes else f"a numeric {kind.label_word}"
        table = Table(title=f"transferability on {result.n_items} items, {about} (by {metric})")
        names = [
            f"knn ({kind.knn_means})" if m == "knn" and kind.outputs is not Outputs.CLASSES else m for m in metrics
        ]
        for column in ("#", "backbone", "cut", "dim", *names, "features s", "scores s"):
            table.add_column(column, justify="left" if column in ("backbone", "cut") else "right")
        for i, row in enumerate(result.sorted_rows(), 1):
            cached = " (cached)" if row.features_computed == 0 else ""
            table.add_row(
                str(i),
                row.backbone,
                f"{row.stage} ({row.cut}/{row.n_stages})",
                str(row.feature_dim),
                *[_fmt(row.scores.get(m)) for m in metrics],
                f"{row.extract_seconds:.1f}{cached}",
                f"{sum(row.score_seconds.values()):.2f}",
            )
        console.print(table)
        print_notes(result.notes)
        if result.run_id:
            console.print(f"run: {result.run_id} (`headstart runs show {result.run_id[:12]}`)")
        console.print("Higher is better for every score; NCE and LEEP need the backbone's source head (last cut).")
