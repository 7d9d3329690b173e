"""The validation report for a dataset: counts, skipped items, duplicates, conflicts, imbalance."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from headstart.data.dataset import SPLIT_NAMES, Dataset
from headstart.data.modalities import get_modality, item_digests
from headstart.tasks import get_task

IMBALANCE_RATIO = 3.0
FEW_ITEMS = 5
ACCIDENTAL_MISSING = frozenset({"nan", "null", "<na>", "nat"})  # what str() of a missing cell writes: always noted
MAYBE_MISSING = frozenset({"na", "n/a", "#n/a", "none", "nil", "-", "?"})  # also real classes ("none", "NA")
LARGE_CLASS_SHARE = 0.2  # a MAYBE_MISSING label this common (or at least the median class size) is a real class


@dataclass
class InspectReport:
    """What `headstart inspect` shows; `to_dict()` is its `--json` form."""

    source: str
    modality: str
    n_items: int
    n_classes: int
    class_counts: dict[str, int]
    skipped: list[dict[str, str]]
    duplicates: list[list[str]]
    conflicts: list[dict[str, Any]]
    warnings: list[str]
    split_counts: dict[str, int] | None
    fingerprint: str
    image_sizes: dict[str, dict[str, float]] | None = None
    notes: list[str] = field(default_factory=list)
    task: str = "classification"
    target_summary: dict[str, float] | None = None  # regression: the numeric target's distribution
    # documents: per field, documents with a value, how many have it findable in their OCR lines, and the share
    field_coverage: dict[str, dict[str, float]] | None = None
    ocr_sources: dict[str, int] | None = None  # documents whose lines were given, cached or read by OCR now

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inspect_dataset(ds: Dataset, *, decode: bool = True) -> InspectReport:
    """Hash every item once and report on the dataset. With `decode`, every image is decoded as `fit` would, so a
    truncated or corrupt body (which a header check passes) is listed under skipped; else sizes come from headers."""
    digests = item_digests(ds)
    duplicates, conflicts = _duplicates(ds, digests)
    counts = ds.class_counts()
    has_classes = get_task(ds.task).has_classes
    warnings = _imbalance_warnings(counts) if has_classes else []
    warnings.extend(_copy_warnings(duplicates, conflicts))
    warnings.extend(label_warnings(counts) if has_classes else [])
    if ds.skipped:
        warnings.append(f"{len(ds.skipped)} item(s) skipped as unreadable or empty (listed under skipped)")
    sizes, broken = get_modality(ds.modality).inspect(ds, decode)
    if broken:
        noun = get_modality(ds.modality).noun
        what = f"{noun}(s) could not be decoded" if decode else f"{noun} header(s) could not be read"
        warnings.append(f"{len(broken)} {what}: `fit` will skip them (listed under skipped)")
    return InspectReport(
        source=ds.source,
        modality=ds.modality,
        n_items=len(ds) - len(broken),
        n_classes=len(counts),
        class_counts=counts,
        skipped=[s.to_dict() for s in ds.skipped] + broken,
        duplicates=duplicates,
        conflicts=conflicts,
        warnings=warnings,
        split_counts=_split_counts(ds),
        fingerprint=ds.fingerprint(digests),
        image_sizes=sizes,
        notes=list(ds.notes),
        task=ds.task,
        target_summary=_label_summary(ds, has_classes),
    )


def data_warnings(ds: Dataset, digests: list[str]) -> list[str]:
    """What `fit` repeats of inspect's warnings: identical items, conflicting labels, suspicious label names."""
    duplicates, conflicts = _duplicates(ds, digests)
    labels = label_warnings(ds.class_counts()) if get_task(ds.task).has_classes else []
    return [*_copy_warnings(duplicates, conflicts), *labels]


def label_warnings(counts: dict[str, int]) -> list[str]:
    """Labels that differ only in case or spaces (`Ham`/`ham`), and labels that spell a missing value (`NaN`,
    see `missing_value_labels`).

    They stay classes of their own: the warning asks the user to fix the data, nothing is renamed.
    """
    warnings: list[str] = []
    variants: dict[str, list[str]] = {}
    for label in counts:
        variants.setdefault(" ".join(label.split()).casefold(), []).append(label)
    clashes = [sorted(group) for group in variants.values() if len(group) > 1]
    if clashes:
        shown = "; ".join(" / ".join(f"{lab!r} ({counts[lab]})" for lab in group) for group in clashes[:5])
        warnings.append(
            f"{len(clashes)} group(s) of labels differ only in case or spaces, and are separate classes: {shown}"
            + (" ..." if len(clashes) > 5 else "")
            + "; fix the labels if they mean the same class"
        )
    missing = missing_value_labels(counts)
    if missing:
        shown = ", ".join(f"{lab!r} ({counts[lab]})" for lab in missing)
        warnings.append(
            f"label(s) {shown} look like a missing value written out, and form a class of their own; "
            "if they mean 'no label', leave those label cells empty (empty ones are skipped)"
        )
    return warnings


def missing_value_labels(counts: dict[str, int]) -> list[str]:
    """Labels that look like a missing value: `nan`/`null` spellings always, and ambiguous ones (`none`, `NA`,
    `-`, `?`) only in a small class (under `LARGE_CLASS_SHARE` of the labels and under the median class size),
    since a large class of that name is more likely real (no intent, North America)."""
    total = sum(counts.values())
    median = float(np.median(list(counts.values()))) if counts else 0.0

    def small(label: str) -> bool:
        return counts[label] < LARGE_CLASS_SHARE * total and counts[label] < median

    spelled = {label: label.strip().casefold() for label in counts}
    return [
        label for label, key in spelled.items() if key in ACCIDENTAL_MISSING or (key in MAYBE_MISSING and small(label))
    ]


def _copy_warnings(duplicates: list[list[str]], conflicts: list[dict[str, Any]]) -> list[str]:
    warnings: list[str] = []
    if duplicates:
        n_items = sum(len(group) for group in duplicates)
        warnings.append(
            f"{len(duplicates)} group(s) of identical items ({n_items} items, e.g. {', '.join(duplicates[0][:3])}); "
            "`fit` keeps each group on one side of the splits it makes"
        )
    if conflicts:
        example = conflicts[0]
        warnings.append(
            f"{len(conflicts)} group(s) of identical items carry different labels "
            f"(e.g. {', '.join(example['ids'][:3])}: {' / '.join(example['labels'])}); "
            "fix the labels or remove the copies"
        )
    return warnings


def _label_summary(ds: Dataset, has_classes: bool) -> dict[str, float] | None:
    """The task's own summary of its labels when it has one (`label_summary`: fields per document), else the
    numeric target's for a value task."""
    summary = getattr(get_task(ds.task), "label_summary", None)
    if summary is not None:
        return summary(ds.labels or ())  # type: ignore[no-any-return]
    return None if has_classes else _target_summary(ds)


def _target_summary(ds: Dataset) -> dict[str, float]:
    """Count, mean, spread and quantiles of a regression target."""
    values = np.array([float(v) for v in ds.labels or ()], dtype=np.float64)
    if not len(values):
        return {"n": 0}
    q = np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
    return {
        "n": int(len(values)),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "min": float(q[0]),
        "q25": float(q[1]),
        "median": float(q[2]),
        "q75": float(q[3]),
        "max": float(q[4]),
        "distinct": int(len(np.unique(values))),
    }


def _duplicates(ds: Dataset, digests: list[str]) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Groups of ids with identical content, and those groups whose labels disagree."""
    groups: dict[str, list[int]] = {}
    for i, d in enumerate(digests):
        groups.setdefault(d, []).append(i)
    duplicates: list[list[str]] = []
    conflicts: list[dict[str, Any]] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        ids = [ds.ids[i] for i in members]
        duplicates.append(ids)
        if ds.labels is not None:
            labels = sorted({ds.labels[i] for i in members})
            if len(labels) > 1:
                conflicts.append({"ids": ids, "labels": labels})
    duplicates.sort()
    conflicts.sort(key=lambda c: c["ids"])
    return duplicates, conflicts


def _imbalance_warnings(counts: dict[str, int]) -> list[str]:
    if not counts:
        return []
    warnings: list[str] = []
    largest = max(counts, key=lambda c: counts[c])
    smallest = min(counts, key=lambda c: counts[c])
    if len(counts) > 1 and counts[largest] > IMBALANCE_RATIO * counts[smallest]:
        warnings.append(
            f"classes are imbalanced: {largest!r} has {counts[largest]} items, {smallest!r} has "
            f"{counts[smallest]} (ratio {counts[largest] / counts[smallest]:.2f} > {IMBALANCE_RATIO:g})"
        )
    few = [c for c in counts if counts[c] < FEW_ITEMS]
    if few:
        shown = ", ".join(f"{c!r} ({counts[c]})" for c in few[:10])
        warnings.append(
            f"{len(few)} class(es) have fewer than {FEW_ITEMS} items: {shown}" + (" ..." if len(few) > 10 else "")
        )
    return warnings


def _split_counts(ds: Dataset) -> dict[str, int] | None:
    if ds.splits is None:
        return None
    counts = Counter(s if s is not None else "unassigned" for s in ds.splits)
    result = {name: counts.get(name, 0) for name in SPLIT_NAMES}
    if counts.get("unassigned"):
        result["unassigned"] = counts["unassigned"]
    return result
