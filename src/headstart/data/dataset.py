"""The `Dataset`: labelled (or unlabelled) items of one modality, with row ids and a split column."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from headstart.data.hashing import file_sha256 as file_sha256  # re-exported: where callers know it
from headstart.data.hashing import image_sha256 as image_sha256
from headstart.errors import UsageError
from headstart.tasks import classes_of, counts_of, strata

Modality = str  # the name of a registered modality (headstart.data.modalities)
OnBad = Literal["skip", "fail"]
SPLIT_NAMES = ("train", "validation", "test")
SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
}


def normalize_split(value: str) -> str | None:
    """`train`/`validation`/`test` for a split name or alias (case-insensitive), else None."""
    return SPLIT_ALIASES.get(value.strip().lower())


def check_on_bad(on_bad: str) -> OnBad:
    """Validate the `on_bad` option: `skip` bad items and list them, or `fail` on the first."""
    if on_bad not in ("skip", "fail"):
        raise UsageError(
            f"on_bad={on_bad!r} is not a known policy",
            expected="'skip' (leave bad items out and list them) or 'fail' (stop at the first)",
            fix="pass --on-bad skip or --on-bad fail",
        )
    return on_bad  # type: ignore[return-value]


@dataclass(frozen=True)
class SkippedItem:
    """An item left out of a dataset, with the reason (shown to the user, stored in reports)."""

    id: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "reason": self.reason}


@dataclass(frozen=True)
class Dataset:
    """Items of one modality with optional labels.

    `items` are file paths (images) or strings (texts); `ids` name each item for messages
    (relative path or `row N`); `splits` holds a per-item `train`/`validation`/`test` or None.
    `notes` say what degraded while the dataset was made (ignored files, a short class in a label
    budget...), so reports and manifests can show them; they do not enter the fingerprint.
    """

    modality: Modality
    items: tuple[str, ...]
    ids: tuple[str, ...]
    labels: tuple[str, ...] | None = None
    splits: tuple[str | None, ...] | None = None
    source: str = ""
    skipped: tuple[SkippedItem, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())
    task: str = "classification"  # or multilabel (labels are sorted tags joined by ';') or regression (numbers)

    def __post_init__(self) -> None:
        n = len(self.items)
        if len(self.ids) != n:
            raise ValueError("ids and items differ in length")
        if self.labels is not None and len(self.labels) != n:
            raise ValueError("labels and items differ in length")
        if self.splits is not None and len(self.splits) != n:
            raise ValueError("splits and items differ in length")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    @property
    def classes(self) -> list[str]:
        """Sorted distinct labels, or tags for multi-label (empty when unlabelled or for regression)."""
        return classes_of(self.labels, self.task)

    def class_counts(self) -> dict[str, int]:
        """Items per class (per tag for multi-label; empty for regression)."""
        return counts_of(self.labels, self.task)

    def strata(self) -> list[str]:
        """What splits and label budgets stratify on: class, rarest tag, or target quantile bin."""
        return strata(self.labels, self.task) if self.labels is not None else [""] * len(self)

    def subset(self, indices: Sequence[int]) -> Dataset:
        """The items at `indices`, in that order (skipped items are kept for reporting)."""
        idx = list(indices)
        return replace(
            self,
            items=tuple(self.items[i] for i in idx),
            ids=tuple(self.ids[i] for i in idx),
            labels=None if self.labels is None else tuple(self.labels[i] for i in idx),
            splits=None if self.splits is None else tuple(self.splits[i] for i in idx),
        )

    def with_notes(self, *notes: str) -> Dataset:
        """A copy with `notes` appended (duplicates dropped, order kept)."""
        merged = tuple(dict.fromkeys((*self.notes, *notes)))
        return replace(self, notes=merged)

    def fingerprint(self, digests: Sequence[str]) -> str:
        """Content fingerprint: changes when any item, label or split changes; ignores item order.

        `digests` are the items' content hashes, as their modality computes them (`data.modalities.item_digests`).
        """
        if len(digests) != len(self):
            raise ValueError("digests and items differ in length")
        rows = sorted(
            json.dumps(
                [
                    digests[i],
                    None if self.labels is None else self.labels[i],
                    None if self.splits is None else self.splits[i],
                ]
            )
            for i in range(len(self))
        )
        h = hashlib.sha256(self.modality.encode())
        for row in rows:
            h.update(row.encode())
            h.update(b"\n")
        return h.hexdigest()


def concat(first: Dataset, second: Dataset) -> Dataset:
    """The items of `first` then those of `second` (same modality and task); `first` gives source, skipped, notes."""
    if first.modality != second.modality or first.task != second.task:
        raise ValueError("datasets of different modalities or tasks cannot be concatenated")
    if (first.labels is None) != (second.labels is None):
        raise ValueError("a labelled and an unlabelled dataset cannot be concatenated")
    splits = None
    if first.splits is not None or second.splits is not None:
        splits = (*(first.splits or (None,) * len(first)), *(second.splits or (None,) * len(second)))
    return replace(
        first,
        items=(*first.items, *second.items),
        ids=(*first.ids, *second.ids),
        labels=None if first.labels is None or second.labels is None else (*first.labels, *second.labels),
        splits=splits,
    )
