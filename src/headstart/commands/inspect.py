"""`inspect`: what a labelled dataset holds before any fit: counts, unreadable items, duplicates and warnings."""

from __future__ import annotations

from headstart.data import InspectReport, inspect_dataset, load_dataset


def inspect(
    data: str,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    task: str = "auto",
    target: str | None = None,
    separator: str = ";",
    decode: bool = True,
) -> InspectReport:
    """Per-class (per-tag) counts or the target's distribution, unreadable items, duplicates and warnings.

    `decode` (default) decodes every image as `fit` would, so truncated files are found; False reads headers only.
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
    return inspect_dataset(dataset, decode=decode)
