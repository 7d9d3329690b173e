"""`inspect`: what a labelled dataset holds before any fit: counts, unreadable items, duplicates and warnings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from headstart.data import InspectReport, inspect_dataset, load_dataset
from headstart.data.modalities import get_modality
from headstart.data.modalities.documents import DocumentModality


def inspect(
    data: str,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    task: str = "auto",
    target: str | None = None,
    separator: str = ";",
    decode: bool = True,
    threads: int = 2,
    progress: bool = False,
    ocr: Mapping[str, Any] | None = None,
) -> InspectReport:
    """Per-class (per-tag) counts or the target's distribution, unreadable items, duplicates and warnings.

    `decode` (default) decodes every image as `fit` would, so truncated files are found; False reads headers only.
    Documents also get each field's weak-label coverage: their OCR lines are the given ones, else read by OCR
    (cached; `threads` for ONNX Runtime; `ocr`: `OcrSettings` names, None keeps the default), with the documents
    the reader skipped (unreadable, blank) and its notes (pages cut or turned, fields not findable in the lines).
    """
    dataset = load_dataset(
        str(data),
        text_column=text_column,
        label_column=label_column,
        on_bad="skip",
        task=task,
        target=target,
        separator=separator,
    )
    report = inspect_dataset(dataset, decode=decode)
    if isinstance(get_modality(dataset.modality), DocumentModality) and dataset.labels is not None:
        from headstart.ocr import OcrSettings, field_coverage  # on use: OCR loads ONNX Runtime

        settings = OcrSettings.from_options(**(ocr or {}))
        found, read = field_coverage(
            dataset.items, dataset.ids, dataset.labels, threads=threads, progress=progress, settings=settings
        )
        listed = {s["id"] for s in report.skipped}  # a corrupt file the decode check found is listed once
        report = replace(
            report,
            field_coverage=found,
            ocr_sources=read.sources,
            skipped=[*report.skipped, *(s for s in read.skipped if s["id"] not in listed)],
            notes=[*report.notes, *(f"{n['id']}: {n['note']}" for n in read.notes)],
        )
    return report
