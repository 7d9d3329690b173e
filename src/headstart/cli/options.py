"""Options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import typer
from pydantic import BaseModel

Json = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
Threads = Annotated[
    int | None, typer.Option("--threads", min=1, help="CPU threads for the network (default: all cores).")
]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Items per forward pass.")]
TextColumn = Annotated[
    str | None, typer.Option("--text-column", help="Table column holding the text (detected when obvious).")
]
LabelColumn = Annotated[
    str | None, typer.Option("--label-column", help="Table column holding the label (detected when obvious).")
]
OnBad = Annotated[
    str,
    typer.Option("--on-bad", help="What to do with an unreadable item: 'skip' (list it and go on) or 'fail' (stop)."),
]
Task = Annotated[
    str,
    typer.Option(
        "--task",
        help="auto (detect), classification, multilabel (tags split by --separator) or regression (numeric target).",
    ),
]
Target = Annotated[
    str | None, typer.Option("--target", help="Numeric column to predict (regression unless --task says otherwise).")
]
Separator = Annotated[str, typer.Option("--separator", help="Multi-label: what separates the tags of a cell.")]

# How OCR reads documents (`headstart.ocr.OcrSettings`); not given: its default on fit and inspect, a bundle's own
# on predict and serve (so pages are read as at fit time).
OcrMaxSide = Annotated[
    int | None,
    typer.Option(
        "--ocr-max-side",
        min=32,
        help="Documents: shrink pages to this longest side (px) before OCR (predict, serve: default as fitted).",
    ),
]
OcrMaxPages = Annotated[
    int | None,
    typer.Option(
        "--ocr-max-pages", min=1, help="Documents: pages OCR reads per PDF or TIFF (later ones are cut, noted)."
    ),
]
OcrOrientation = Annotated[
    bool | None,
    typer.Option(
        "--ocr-orientation/--no-ocr-orientation", help="Documents: turn pages on their side or upside down upright."
    ),
]
Track = Annotated[bool, typer.Option("--track/--no-track", help="Record the run in MLflow (see `headstart runs`).")]
EngineName = Annotated[
    str,
    typer.Option(
        "--engine",
        help="Where extraction (and study cells) run: local (this process) or ray (pip install headstart\\[ray]).",
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address", help="--engine ray: cluster to join (ray://HEAD:10001, HEAD:6379); default: start Ray here."
    ),
]


class EngineKeywords(TypedDict):
    """The engine keywords of fit, rank and study."""

    engine: str
    ray_address: str | None


class RunKeywords(TypedDict):
    """The keywords every data-processing api call takes."""

    on_bad: str
    threads: int | None
    batch_size: int
    progress: bool


def engine_options(engine: str, ray_address: str | None) -> EngineKeywords:
    """The engine keywords of fit, rank and study."""
    return {"engine": engine, "ray_address": ray_address}


def split_csv(value: str | None) -> list[str] | None:
    """A comma-separated option as a list of its non-empty items; None when the option was not given."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def run_options(*, on_bad: str, threads: int | None, batch_size: int, as_json: bool) -> RunKeywords:
    """The keyword options every data-processing api call takes; progress bars only for people."""
    return {"on_bad": on_bad, "threads": threads, "batch_size": batch_size, "progress": not as_json}


def default(model: type[BaseModel], name: str) -> Any:
    """A flag's default is its config field's (`headstart.config`): each option's default is declared once."""
    return model.model_fields[name].get_default(call_default_factory=True)
