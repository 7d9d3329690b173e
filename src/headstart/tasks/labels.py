"""Label strings and the helpers every task kind shares: tags, numbers, multi-hot rows, thresholds, answers.

A `Dataset` keeps one label string per item whatever the kind: the class name, the item's tags joined by
`TAG_JOIN` in sorted order, or the target number as text. The `Task` objects (`headstart.tasks.kinds`) turn
raw cells into those strings, encode them for training and turn outputs back into answers with these helpers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_SEPARATOR = ";"
TAG_JOIN = ";"  # tags inside Dataset.labels are sorted and joined with this
REGRESSION_STRATA = 5  # quantile bins of the target: what splits and label budgets stratify on
DEFAULT_THRESHOLD = 0.5
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)


# ---------------------------------------------------------------- raw cells → label strings


def split_tags(value: str, separator: str) -> tuple[str, ...]:
    """`"outdoor; flower;flower"` → `("flower", "outdoor")`: stripped, de-duplicated, sorted."""
    return tuple(sorted({t.strip() for t in value.split(separator) if t.strip()}))


def tags_of(label: str) -> list[str]:
    """The tags held in a multi-label Dataset label."""
    return [t for t in label.split(TAG_JOIN) if t]


def parse_number(value: object) -> float | None:
    """A finite float from a number or numeric text, else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip()) if not isinstance(value, int | float) else float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# ---------------------------------------------------------------- label strings → classes, counts, strata


def multi_hot(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """(N, n_classes) float32 rows with 1 for each tag of the item."""
    index = {c: j for j, c in enumerate(classes)}
    out = np.zeros((len(labels), len(classes)), dtype=np.float32)
    for i, label in enumerate(labels):
        for t in tags_of(label):
            if t in index:
                out[i, index[t]] = 1.0
    return out


def target_values(labels: Sequence[str]) -> np.ndarray:
    """Regression targets as float64."""
    return np.array([float(v) for v in labels], dtype=np.float64)


# ---------------------------------------------------------------- thresholds and answers


def tune_thresholds(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per-label threshold maximising that label's F1 on held-out (or out-of-fold) probabilities.

    Ties go to the threshold nearest 0.5; a label without positives (or negatives) there keeps 0.5.
    """
    y = np.asarray(y) > 0.5
    out = np.full(y.shape[1], DEFAULT_THRESHOLD)
    for j in range(y.shape[1]):
        positives = int(y[:, j].sum())
        if positives == 0 or positives == len(y):
            continue
        predicted = proba[:, j][:, None] >= THRESHOLD_GRID[None, :]
        tp = (predicted & y[:, j][:, None]).sum(axis=0)
        f1 = 2 * tp / np.maximum(predicted.sum(axis=0) + positives, 1)
        best = np.flatnonzero(f1 >= f1.max() - 1e-12)
        out[j] = float(THRESHOLD_GRID[best[np.argmin(np.abs(THRESHOLD_GRID[best] - DEFAULT_THRESHOLD))]])
    return out


@dataclass
class Answer:
    """One item's answer: a label (classification), the tags above their thresholds, a number, or a document's
    fields (name -> {"value", "confidence", "lines", "page", "box"})."""

    task: str
    label: str | None = None
    probability: float | None = None
    top: list[tuple[str, float]] = field(default_factory=list)
    labels: list[str] | None = None
    value: float | None = None
    fields: dict[str, dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The answer's JSON shape, decided by what it holds: fields, a value, a set of tags, or a label."""
        if self.fields is not None:
            return {"fields": self.fields}
        if self.value is not None:
            return {"value": self.value}
        top = [{"label": lab, "probability": p} for lab, p in self.top]
        if self.labels is not None:
            return {"labels": self.labels, "top": top}
        return {"label": self.label, "probability": self.probability, "top": top}
