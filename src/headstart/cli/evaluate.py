"""`headstart evaluate BUNDLE DATA`: metrics of a saved model on labelled data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from headstart.cli.lazy import api
from headstart.cli.options import (
    BatchSize,
    Json,
    LabelColumn,
    OnBad,
    Separator,
    Target,
    Task,
    TextColumn,
    Threads,
    default,
    run_options,
)
from headstart.cli.output import command_errors, console, fmt, metrics_line, print_json, print_notes
from headstart.config import EvaluateConfig

if TYPE_CHECKING:  # imported on use: scikit-learn is slow to load, and `--help` needs none of it
    from headstart.metrics import ClassificationReport
    from headstart.tasks.metrics import FieldsReport, MultiLabelReport, RegressionReport


def evaluate(
    bundle: Annotated[str, typer.Argument(metavar="BUNDLE", help="Bundle folder written by `headstart fit`.")],
    data: Annotated[
        str, typer.Argument(metavar="DATA", help="Labelled image folder or table, with the bundle's labels.")
    ],
    text_column: TextColumn = default(EvaluateConfig, "text_column"),
    label_column: LabelColumn = default(EvaluateConfig, "label_column"),
    task: Task = default(EvaluateConfig, "task"),
    target: Target = default(EvaluateConfig, "target"),
    separator: Separator = ";",
    on_bad: OnBad = default(EvaluateConfig, "on_bad"),
    threads: Threads = default(EvaluateConfig, "threads"),
    batch_size: BatchSize = default(EvaluateConfig, "batch_size"),
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="Which items to score: test (DATA's test split: a `split` column or a test/ folder) or all. "
            "Default: test when DATA has one, else all.",
        ),
    ] = default(EvaluateConfig, "split"),
    as_json: Json = False,
) -> None:
    """Accuracy, macro-F1, per-class precision/recall/F1, confusion matrix and calibration error."""
    with command_errors(as_json):
        result = api.evaluate(
            bundle,
            data,
            text_column=text_column,
            label_column=label_column,
            task=task,
            target=target,
            split=split,
            separator=separator if separator != ";" else None,  # None: the bundle's separator
            **run_options(on_bad=on_bad, threads=threads, batch_size=batch_size, as_json=as_json),
        )
        if as_json:
            print_json(result.to_dict())
            return
        from headstart.metrics import ClassificationReport

        r = result.report
        title = f"{bundle} on {'the test split of ' if result.split == 'test' else ''}{data} (n={r.n})"
        if not isinstance(r, ClassificationReport):
            _print_task_report(r, title)
        else:
            table = Table(title=title)
            for column in ("class", "precision", "recall", "f1", "support"):
                table.add_column(column, justify="left" if column == "class" else "right")
            for label, m in r.per_class.items():
                table.add_row(label, *_scores(m, "precision", "recall", "f1"), str(m["support"]))
            console.print(table)
            _print_confusion(r)
            console.print(f"accuracy {fmt(r.accuracy)}  macro-F1 {fmt(r.macro_f1)}  ECE {fmt(r.ece)}")
            from headstart.tasks.metrics import small_test_line

            if line := small_test_line(r.summary(), "items"):
                console.print(f"  {line}")
        if result.skipped:
            console.print(f"[yellow]skipped {len(result.skipped)} item(s)[/]")
        for warning in result.warnings:
            console.print(f"[bold yellow]warning:[/] {warning}")
        print_notes(result.notes)


def _scores(m: dict, *names: str) -> list[str]:
    """The scores of one class's row; `-` for a class without examples (its recall and F1 are undefined)."""
    return [fmt(m[name]) if m["support"] else "-" for name in names]


MAX_MATRIX_CLASSES = 12  # beyond this the matrix does not fit a terminal; it is in --json


def _print_confusion(r: ClassificationReport) -> None:
    """The confusion matrix (rows: true class, columns: predicted) when it fits a terminal."""
    if not r.confusion_matrix or len(r.labels) > MAX_MATRIX_CLASSES:
        if r.confusion_matrix:
            console.print(f"confusion matrix: {len(r.labels)} classes, see --json (`confusion_matrix`)")
        return
    table = Table(title="confusion matrix (rows: true, columns: predicted)")
    table.add_column("true \\ predicted", justify="left")
    for label in r.labels:
        table.add_column(label, justify="right")
    for label, row in zip(r.labels, r.confusion_matrix, strict=True):
        table.add_row(label, *[str(v) for v in row])
    console.print(table)


def _print_task_report(r: MultiLabelReport | RegressionReport | FieldsReport, title: str) -> None:
    """Per-tag table for multi-label; per-field table for fields; the error figures for regression."""
    from headstart.tasks.metrics import FieldsReport, MultiLabelReport

    if isinstance(r, FieldsReport):
        table = Table(title=title)
        for column in ("field", "exact match", "right", "wrong", "missing", "extra", "documents"):
            table.add_column(column, justify="left" if column == "field" else "right")
        for name, c in r.per_field.items():
            counts = (c.right, c.wrong, c.missing, c.extra, c.documents)
            table.add_row(name, fmt(c.exact_match) if c.documents else "-", *map(str, counts))
        console.print(table)
    elif isinstance(r, MultiLabelReport):
        table = Table(title=title)
        for column in ("tag", "precision", "recall", "f1", "AP", "threshold", "support"):
            table.add_column(column, justify="left" if column == "tag" else "right")
        for label, m in r.per_label.items():
            ap = "-" if m["average_precision"] is None else fmt(m["average_precision"])
            table.add_row(label, *_scores(m, "precision", "recall", "f1"), ap, fmt(m["threshold"]), str(m["support"]))
        console.print(table)
    else:
        console.print(title)
    console.print(metrics_line(r.summary()))
