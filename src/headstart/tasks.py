"""Task kinds (single-label classification, multi-label tags, regression) and how their targets are encoded.

A `Dataset` keeps one label string per item whatever the kind: the class name, the item's tags joined by
`TAG_JOIN` in sorted order, or the target number as text. This module turns raw table cells into those
strings (or says why a cell cannot be used), detects the kind when it is unambiguous, encodes the strings as
arrays for training (class indices, multi-hot rows, floats), tunes per-label thresholds, and turns a model's
outputs back into answers (a label, the tags above their thresholds, or a number).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from headstart.errors import UsageError

TaskKind = Literal["classification", "multilabel", "regression"]
TASKS: tuple[str, ...] = ("classification", "multilabel", "regression")
TASK_CHOICES: tuple[str, ...] = ("auto", *TASKS)
DEFAULT_SEPARATOR = ";"
TAG_JOIN = ";"  # tags inside Dataset.labels are sorted and joined with this
REGRESSION_STRATA = 5  # quantile bins of the target: what splits and label budgets stratify on
DEFAULT_THRESHOLD = 0.5
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)


def check_task(task: str) -> str:
    """`task` when it is a known kind or `auto`, else a UsageError."""
    if task not in TASK_CHOICES:
        raise UsageError(
            f"task={task!r} is not a known task kind",
            expected=f"one of {', '.join(TASK_CHOICES)}",
            fix="pass --task auto (detect), classification, multilabel or regression",
        )
    return task


ALTERNATIVES = {  # what to do instead, per command that handles classification only
    "`headstart export`": "serve it with `headstart serve` (every task kind), or export a classification model",
    "`headstart promote`": "compare both with `headstart evaluate` on the same data and switch by hand",
    "`headstart expand`": "retrain with `headstart fit` on all the data",
}


def refuse_task(task: str, what: str, supported: Sequence[str] = ("classification",)) -> None:
    """UsageError when `what` (a command or strategy) cannot handle `task`, with what to do instead."""
    if task in supported:
        return
    raise UsageError(
        f"{what} does not support {task} models or data",
        expected=f"a {' or '.join(supported)} task",
        fix=ALTERNATIVES.get(what)
        or f"use `headstart fit` / `evaluate` / `predict` for {task}, or run {what} on single-label data",
    )


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


def task_label(value: object, task: str, separator: str) -> tuple[str | None, str | None]:
    """(label string, None) for a usable non-missing cell of a multilabel or regression target, else (None, reason)."""
    if task == "regression":
        number = parse_number(value)
        if number is None:
            return None, f"target {value!r} is not a number (regression needs a numeric value in every row)"
        return repr(number), None
    if isinstance(value, list | tuple | np.ndarray):
        tags = tuple(sorted({str(t).strip() for t in value if str(t).strip()}))
    else:
        tags = split_tags(str(value), separator)
    if not tags:
        return None, f"empty label set {value!r} (multi-label rows need at least one tag between {separator!r})"
    bad = [t for t in tags if TAG_JOIN in t]
    if bad:
        return None, f"tag {bad[0]!r} contains {TAG_JOIN!r}, which headstart reserves to join tags"
    return TAG_JOIN.join(tags), None


def detect_task(values: Iterable[object], task: str, separator: str, *, numeric_target: bool) -> str:
    """The task kind: `task` unless `auto`; then regression for a `--target` column, multi-label when a cell
    holds the separator between two tags, else classification."""
    check_task(task)
    if task != "auto":
        return task
    if numeric_target:
        return "regression"
    for value in values:
        if isinstance(value, list | tuple | np.ndarray) or (
            isinstance(value, str) and len(split_tags(value, separator)) > 1
        ):
            return "multilabel"
    return "classification"


# ---------------------------------------------------------------- label strings → classes, counts, strata


def classes_of(labels: Sequence[str] | None, task: str) -> list[str]:
    """Sorted classes (tags for multi-label; none for regression)."""
    if labels is None or task == "regression":
        return []
    if task == "multilabel":
        return sorted({t for label in labels for t in tags_of(label)})
    return sorted(set(labels))


def counts_of(labels: Sequence[str] | None, task: str) -> dict[str, int]:
    """Items per class (per tag for multi-label; none for regression)."""
    if labels is None or task == "regression":
        return {}
    counts = Counter(t for label in labels for t in tags_of(label)) if task == "multilabel" else Counter(labels)
    return {c: counts[c] for c in sorted(counts)}


def strata(labels: Sequence[str], task: str) -> list[str]:
    """The group of each item that splits and budgets stratify on: its class, its rarest tag, or its quantile bin."""
    if task == "multilabel":
        counts = counts_of(labels, task)
        return [min(tags_of(label), key=lambda t: (counts[t], t)) for label in labels]
    if task == "regression":
        values = target_values(labels)
        if len(values) == 0:
            return []
        edges = np.unique(np.quantile(values, np.linspace(0, 1, REGRESSION_STRATA + 1)[1:-1]))
        return [f"bin {int(b)}" for b in np.searchsorted(edges, values, side="right")]
    return list(labels)


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


def encode_targets(labels: Sequence[str], task: str, classes: Sequence[str]) -> np.ndarray:
    """Training targets: class indices (int64), multi-hot rows (float32) or values (float32)."""
    if task == "multilabel":
        return multi_hot(labels, classes)
    if task == "regression":
        return target_values(labels).astype(np.float32)
    index = {c: j for j, c in enumerate(classes)}
    return np.array([index[label] for label in labels], dtype=np.int64)


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
    """One item's answer: a label (classification), the tags above their thresholds, or a number."""

    task: str
    label: str | None = None
    probability: float | None = None
    top: list[tuple[str, float]] = field(default_factory=list)
    labels: list[str] | None = None
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.task == "regression":
            return {"value": self.value}
        top = [{"label": lab, "probability": p} for lab, p in self.top]
        if self.task == "multilabel":
            return {"labels": self.labels, "top": top}
        return {"label": self.label, "probability": self.probability, "top": top}


def answer(task: str, row: np.ndarray, labels: Sequence[str], thresholds: np.ndarray | None, top_k: int) -> Answer:
    """Turn one row of model outputs into an Answer (top-k by probability for the label kinds)."""
    if task == "regression":
        return Answer(task, value=float(row[0]))
    order = np.argsort(-row)[: min(top_k, len(labels))]
    top = [(labels[j], float(row[j])) for j in order]
    if task == "multilabel":
        limits = thresholds if thresholds is not None else np.full(len(labels), DEFAULT_THRESHOLD)
        chosen = [labels[j] for j in np.argsort(-row) if row[j] >= limits[j]]
        return Answer(task, top=top, labels=chosen)
    return Answer(task, label=top[0][0], probability=top[0][1], top=top)


def decisions(task: str, outputs: np.ndarray, labels: Sequence[str], thresholds: np.ndarray | None) -> list[Any]:
    """Per-item predictions: a label, a list of tags, or a float."""
    if task == "regression":
        return [float(v) for v in outputs[:, 0]]
    if task == "multilabel":
        limits = thresholds if thresholds is not None else np.full(len(labels), DEFAULT_THRESHOLD)
        return [[labels[j] for j in np.flatnonzero(row >= limits)] for row in outputs]
    return [labels[j] for j in outputs.argmax(axis=1)] if len(outputs) else []
