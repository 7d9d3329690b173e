"""`headstart predict BUNDLE INPUTS...`: labels with probabilities for new items."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from headstart.cli.lazy import api
from headstart.cli.options import (
    BatchSize,
    Json,
    OcrMaxPages,
    OcrMaxSide,
    OcrOrientation,
    OnBad,
    TextColumn,
    Threads,
    default,
    run_options,
)
from headstart.cli.output import command_errors, console, fmt, print_json, print_notes
from headstart.config import PredictConfig


def predict(
    bundle: Annotated[str, typer.Argument(metavar="BUNDLE", help="Bundle folder written by `headstart fit`.")],
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUTS",
            help="Image files or folders; or a CSV/TSV/JSONL/Parquet/txt of texts; or texts themselves.",
        ),
    ],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many labels to show per item.")] = default(
        PredictConfig, "top_k"
    ),
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Also write the predictions to FILE (.csv, .tsv, .jsonl, .parquet), one row per input; a predicted "
            "table comes back whole with predicted_* columns appended.",
        ),
    ] = None,
    text_column: TextColumn = default(PredictConfig, "text_column"),
    on_bad: OnBad = default(PredictConfig, "on_bad"),
    threads: Threads = default(PredictConfig, "threads"),
    batch_size: BatchSize = default(PredictConfig, "batch_size"),
    ocr_max_side: OcrMaxSide = default(PredictConfig, "ocr_max_side"),
    ocr_max_pages: OcrMaxPages = default(PredictConfig, "ocr_max_pages"),
    ocr_orientation: OcrOrientation = default(PredictConfig, "ocr_orientation"),
    as_json: Json = False,
) -> None:
    """Predict labels for new images or texts."""
    from headstart.tasks import Outputs, get_task  # on use: --help stays light

    with command_errors(as_json):
        result = api.predict(
            bundle,
            inputs,
            out=out,
            top_k=top_k,
            text_column=text_column,
            ocr_max_side=ocr_max_side,
            ocr_max_pages=ocr_max_pages,
            ocr_orientation=ocr_orientation,
            **run_options(on_bad=on_bad, threads=threads, batch_size=batch_size, as_json=as_json),
        )
        if as_json:
            print_json(result.to_dict())
            return
        if result.out:  # the file holds every row: a summary, not a table of thousands
            skipped = f", {len(result.skipped)} skipped (see skipped_reason)" if result.skipped else ""
            console.print(f"wrote {len(result.predictions)} prediction(s) to {result.out}{skipped}", soft_wrap=True)
            print_notes(result.notes)
            return
        table = Table()
        outputs = get_task(result.task).outputs
        if outputs is Outputs.FIELDS:
            _print_fields(result.predictions, result.outputs)
            for s in result.skipped:
                console.print(f"[yellow]skipped[/] {s.id}: {s.reason}")
            print_notes(result.notes)
            return
        columns = {Outputs.VALUE: ("item", "value"), Outputs.TAGS: ("item", "labels", f"top {top_k}")}
        for column in columns.get(outputs, ("item", "label", "probability", f"top {top_k}")):
            table.add_column(column)
        for p in result.predictions:
            others = ", ".join(f"{lab} {fmt(prob)}" for lab, prob in p.top)
            if outputs is Outputs.VALUE:
                table.add_row(_short(p.input or p.id), f"{p.value:.4g}")
            elif outputs is Outputs.TAGS:
                table.add_row(_short(p.input or p.id), ", ".join(p.labels or []) or "(none)", others)
            else:
                table.add_row(_short(p.input or p.id), p.label, fmt(p.probability), others)
        console.print(table)
        for s in result.skipped:
            console.print(f"[yellow]skipped[/] {s.id}: {s.reason}")
        print_notes(result.notes)


def _print_fields(predictions: list[Any], names: list[str]) -> None:
    """One row per document and field: the value found, its confidence and page (`-`: not found)."""
    table = Table()
    for column in ("document", "field", "value", "confidence", "page"):
        table.add_column(column)
    for p in predictions:
        for n, name in enumerate(list(dict.fromkeys([*names, *(p.fields or {})]))):
            found = (p.fields or {}).get(name)
            document = _short(p.id) if n == 0 else ""
            if found is None:
                table.add_row(document, name, "-", "-", "-")
            else:
                table.add_row(document, name, _short(str(found["value"])), fmt(found["confidence"]), str(found["page"]))
    console.print(table)


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
