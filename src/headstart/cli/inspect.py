"""`headstart inspect DATA`: what is in a dataset before training on it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from headstart.cli.lazy import api
from headstart.cli.options import (
    Json,
    LabelColumn,
    OcrMaxPages,
    OcrMaxSide,
    OcrOrientation,
    Separator,
    Target,
    Task,
    TextColumn,
    default,
)
from headstart.cli.output import command_errors, console, print_json, print_notes
from headstart.config import DataOptions, OcrOptions


def inspect(
    data: Annotated[
        str, typer.Argument(metavar="DATA", help="Image folder (<class>/<file>) or table (CSV/TSV/JSONL/Parquet).")
    ],
    text_column: TextColumn = default(DataOptions, "text_column"),
    label_column: LabelColumn = default(DataOptions, "label_column"),
    task: Task = default(DataOptions, "task"),
    target: Target = default(DataOptions, "target"),
    separator: Separator = default(DataOptions, "separator"),
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Images: read headers only (faster; misses truncated files that `fit` skips)."),
    ] = False,
    threads: Annotated[int, typer.Option("--threads", min=1, help="Documents: CPU threads for OCR.")] = 2,
    ocr_max_side: OcrMaxSide = default(OcrOptions, "ocr_max_side"),
    ocr_max_pages: OcrMaxPages = default(OcrOptions, "ocr_max_pages"),
    ocr_orientation: OcrOrientation = default(OcrOptions, "ocr_orientation"),
    as_json: Json = False,
) -> None:
    """Per-class (or per-tag) counts or the target's spread, unreadable or empty items, duplicates, warnings."""
    from headstart.tasks import DEFAULT_TASK, get_task  # on use: --help stays light

    with command_errors(as_json):
        report = api.inspect(
            data,
            text_column=text_column,
            label_column=label_column,
            task=task,
            target=target,
            separator=separator,
            decode=not quick,
            threads=threads,
            progress=not as_json,
            ocr_max_side=ocr_max_side,
            ocr_max_pages=ocr_max_pages,
            ocr_orientation=ocr_orientation,
        )
        doc = report.to_dict()
        if as_json:
            print_json(doc)
            return
        title = f"{data}: {doc.get('n_items', 0)} {doc.get('modality', '')} items, {doc.get('task', '')}"
        summary = doc.get("target_summary")
        table = Table(title=title)
        if summary:
            table.add_column("target")
            table.add_column("value", justify="right")
            for key, value in summary.items():
                table.add_row(key, f"{value:g}")
        else:
            table.add_column(get_task(doc.get("task") or DEFAULT_TASK).label_word)
            table.add_column("items", justify="right")
            for label, count in doc.get("class_counts", {}).items():
                table.add_row(str(label), str(count))
        console.print(table)
        if doc.get("split_counts"):
            splits = ", ".join(f"{name} {n}" for name, n in doc["split_counts"].items())
            console.print(f"[bold]splits:[/] {splits}")
        sizes = doc.get("image_sizes")
        if sizes and "seconds" in sizes:  # recordings: durations, rates and quality counts
            d, r, flags = sizes["seconds"], sizes["sample_rate"], sizes.get("flags", {})
            shown = ", ".join(f"{k.replace('_', '-')} {int(v)}" for k, v in flags.items() if v)
            console.print(
                f"[bold]durations:[/] {d['min']:.2f}–{d['max']:.2f} s (median {d['median']:.2f} s); "
                f"[bold]sample rates:[/] {r['min']:g}–{r['max']:g} Hz" + (f"; {shown}" if shown else "")
            )
        elif sizes and "width" in sizes:
            w, h = sizes["width"], sizes["height"]
            console.print(
                f"[bold]image sizes:[/] width {w['min']}–{w['max']} (median {w['median']:g}), "
                f"height {h['min']}–{h['max']} (median {h['median']:g})"
            )
        for name, found in (doc.get("field_coverage") or {}).items():  # documents: weak-label coverage
            console.print(
                f"[bold]{name}:[/] findable in the OCR text of {int(found['findable'])}/{int(found['documents'])} "
                f"documents ({found['share']:.0%})"
            )
        skipped = doc.get("skipped", [])
        if skipped:
            console.print(f"[yellow]{len(skipped)} unusable item(s):[/]")
            for s in skipped[:20]:
                console.print(f"  {s['id']}: {s['reason']}")
        for group in doc.get("duplicates", [])[:10]:
            console.print(f"[yellow]duplicate:[/] {group}")
        for warning in doc.get("warnings", []):
            console.print(f"[yellow]warning:[/] {warning}")
        print_notes(doc.get("notes", []))  # how the data was read: folders skipped, split layout, ...
        console.print(f"fingerprint: {doc.get('fingerprint', '')}")
