"""`headstart study DATA`: strategies × label budgets × seeds, with a report of what transfer buys."""

from __future__ import annotations

from types import TracebackType
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
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
    Threads,
    Track,
    default,
    engine_options,
    run_options,
)
from headstart.cli.options import TextColumn as TextColumnOption
from headstart.cli.output import command_errors, console, err_console, print_json, print_notes
from headstart.config import StudyConfig, parse_duration

# the strategy registry (headstart.strategies.STRATEGIES) imports torch, which `--help` must not load;
# tests/services/study/test_small_data.py checks that this list names every registered strategy
STRATEGY_CHOICES = (
    "zero-shot", "linear", "partial:K", "full", "contrastive[:K]", "scratch", "baseline", "rules", "auto",
)  # fmt: skip


def study(
    data: Annotated[
        str, typer.Argument(metavar="DATA", help="Image folder (<class>/<file>) or table (CSV/TSV/JSONL/Parquet).")
    ],
    backbone: Annotated[
        str | None, typer.Option("--backbone", "-b", help="Pretrained backbone for the transfer strategies.")
    ] = default(StudyConfig, "backbone"),
    strategies: Annotated[
        str | None,
        typer.Option(
            "--strategies",
            "-s",
            help=f"Comma-separated, from: {', '.join(STRATEGY_CHOICES)}. "
            "Default: linear,baseline, and contrastive for texts; linear,baseline,rules for documents.",
        ),
    ] = None,
    budgets: Annotated[
        str,
        typer.Option(
            "--budgets",
            help="Comma-separated labels per class (documents: training documents), or 'all' (e.g. 5,10,20,50,all).",
        ),
    ] = "5,20,all",
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds per (strategy, budget): 0..N-1.")] = default(
        StudyConfig, "seeds"
    ),
    out: Annotated[str, typer.Option("--out", "-o", help="Folder for results, study.json and report.html.")] = default(
        StudyConfig, "out"
    ),
    max_time: Annotated[
        str | None, typer.Option("--max-time", help="Stop after the cell running when this much time has passed.")
    ] = default(StudyConfig, "max_time"),
    country: Annotated[
        str | None,
        typer.Option("--country", help="ISO alpha-3 code for CO2 (default: $HEADSTART_COUNTRY, else world average)."),
    ] = default(StudyConfig, "country"),
    target_accuracy: Annotated[
        float | None, typer.Option("--target-accuracy", help="Verdict: fewest labels reaching this accuracy (0-1).")
    ] = default(StudyConfig, "target_accuracy"),
    time_limit_per_fit: Annotated[
        str | None, typer.Option("--time-limit-per-fit", help="Verdict: only strategies fitting within this (60s).")
    ] = default(StudyConfig, "time_limit_per_fit"),
    test_size: Annotated[
        float, typer.Option("--test-size", help="Held-out fraction when there is no test split.")
    ] = default(StudyConfig, "test_size"),
    max_epochs: Annotated[
        int | None, typer.Option("--max-epochs", min=1, help="Gradient strategies: most epochs per fit.")
    ] = default(StudyConfig, "max_epochs"),
    energy: Annotated[
        bool, typer.Option("--energy/--no-energy", help="Meter energy and CO2 with CodeCarbon.")
    ] = default(StudyConfig, "energy"),
    text_column: TextColumnOption = default(StudyConfig, "text_column"),
    label_column: LabelColumn = default(StudyConfig, "label_column"),
    task: Task = default(StudyConfig, "task"),
    target: Target = default(StudyConfig, "target"),
    separator: Separator = default(StudyConfig, "separator"),
    on_bad: OnBad = default(StudyConfig, "on_bad"),
    threads: Threads = default(StudyConfig, "threads"),
    batch_size: BatchSize = default(StudyConfig, "batch_size"),
    engine: EngineName = default(StudyConfig, "engine"),
    ray_address: RayAddress = default(StudyConfig, "ray_address"),
    track: Track = default(StudyConfig, "track"),
    as_json: Json = False,
) -> None:
    """Compare strategies across label budgets and seeds on one fixed test split; write an HTML report."""
    with command_errors(as_json):
        if seeds < 1:
            from headstart.errors import UsageError

            raise UsageError(f"--seeds {seeds} is not a number of seeds", expected="an integer >= 1", fix="--seeds 3")
        with _StudyProgress(enabled=not as_json) as progress:
            result = api.study(
                data,
                on_event=progress.event,
                backbone=backbone,
                strategies=strategies,
                budgets=budgets,
                seeds=seeds,
                out=out,
                max_time=parse_duration(max_time),
                country=country,
                energy=energy,
                target_accuracy=target_accuracy,
                time_limit_per_fit=parse_duration(time_limit_per_fit),
                test_size=test_size,
                max_epochs=max_epochs,
                text_column=text_column,
                label_column=label_column,
                task=task,
                target=target,
                separator=separator,
                track=track,
                **run_options(on_bad=on_bad, threads=threads, batch_size=batch_size, as_json=True),
                **engine_options(engine, ray_address),
            )
        if as_json:
            print_json(result.to_dict())
            return
        _print_summary(result)


class _StudyProgress:
    """A Rich bar on stderr: cells done of total and the cell running now."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]study"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=err_console,
            disable=not enabled,
        )
        self.task: Any = None

    def __enter__(self) -> _StudyProgress:
        self.progress.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.progress.__exit__(kind, error, trace)

    def event(self, name: str, **info: Any) -> None:
        if name == "start":
            self.task = self.progress.add_task("", total=info["total"], completed=info["done"])
            if info["done"]:
                self.progress.console.print(f"resuming: {info['done']} of {info['total']} cells already done")
        elif name == "cell_start" and self.task is not None:
            cell = info["cell"]
            self.progress.update(
                self.task, description=f"{cell.strategy} · {cell.budget or 'all'}/class · seed {cell.seed}"
            )
        elif name == "extracting" and self.task is not None:
            self.progress.update(self.task, description=f"features of {info['items']} items on {info['engine']}")
        elif name == "running" and self.task is not None:  # --engine ray: cells run concurrently on the cluster
            queued = f", {info['queued']} queued" if info["queued"] else ""
            self.progress.update(self.task, description=f"{info['running']} cell(s) running on Ray{queued}")
        elif name == "cell_end" and self.task is not None:
            record = info["record"]
            if record["status"] != "ok":
                self.progress.console.print(f"[yellow]cell {record['key']} failed:[/] {record['error']}")
            self.progress.advance(self.task)
        elif name == "finish" and self.task is not None:
            self.progress.update(self.task, description="writing report")


BUDGET_HEADERS = {"labels per class": "labels/class"}  # a budget unit's column header, when shorter than the unit


def _print_summary(result: Any) -> None:
    table = Table(
        title=f"study: {result.cells_done}/{result.cells_total} cells ({result.status})", title_justify="left"
    )
    from headstart.score_names import display_name

    metric = result.score_metric  # the rows' `accuracy` is micro-F1 for multi-label data, R² for regression
    score = (lambda x: f"{x:.3f}") if metric == "r2" else (lambda x: f"{100 * x:.1f}%")
    spread = (lambda x: f"{x:.3f}") if metric == "r2" else (lambda x: f"{100 * x:.1f}")
    for column in (
        "strategy",
        BUDGET_HEADERS.get(result.budget_unit, result.budget_unit),
        "seeds",
        display_name(metric),
        "± sd",
        "fit time",
        "energy",
    ):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for r in result.summary:
        energy = "–" if r["energy_kwh"] is None else f"{r['energy_kwh'] * 1000:.3f} Wh ({r['energy_label']})"
        table.add_row(
            r["strategy"],
            r["budget"],
            str(r["seeds"]),
            score(r["accuracy"]),
            spread(r["accuracy_std"]) if r["seeds"] > 1 else "–",  # no spread from one seed
            f"{r['fit_seconds']:.2f} s",
            energy,
        )
    console.print(table)
    verdict = result.verdict
    console.print(f"[bold green]verdict:[/] {verdict.get('headline', '')}")
    for warning in verdict.get("warnings", []):
        console.print(f"[bold yellow]warning:[/] {warning}")
    print_notes(result.notes)
    if result.cells_failed:
        console.print(f"[yellow]{result.cells_failed} cell(s) failed; rerun the same command to retry them[/]")
    report = f"[bold]{result.report}[/]" if result.report else "not written (see the notes above)"
    console.print(f"report: {report}   results: {result.out / 'results.csv'}")
