"""`inspect`: what a labelled dataset holds before any fit: counts, unreadable items, duplicates and warnings."""

from __future__ import annotations

from dataclasses import replace

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
) -> InspectReport:
    """Per-class (per-tag) counts or the target's distribution, unreadable items, duplicates and warnings.

    `decode` (default) decodes every image as `fit` would, so truncated files are found; False reads headers only.
    Documents also get each field's weak-label coverage: their OCR lines are the given ones, else read by OCR
    (cached; `threads` for ONNX Runtime).
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
        from headstart.ocr import field_coverage  # on use: OCR loads ONNX Runtime

        found, read = field_coverage(dataset.items, dataset.ids, dataset.labels, threads=threads, progress=progress)
        report = replace(report, field_coverage=found, ocr_sources=read.sources)
    return report
