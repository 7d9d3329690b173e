"""Classification metrics reported by fit and evaluate: accuracy, macro-F1, per class, confusion, ECE."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ECE_BINS = 15


@dataclass
class ClassificationReport:
    """Metrics on labelled data; `to_dict` is the `--json` schema of evaluate."""

    accuracy: float
    macro_f1: float
    ece: float
    n: int
    labels: list[str]
    per_class: dict[str, dict[str, float]]
    confusion_matrix: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "ece": self.ece,  # the name fit, promote and the Python API use
            "expected_calibration_error": self.ece,  # kept: the older name of the same figure
            "n": self.n,
            "labels": self.labels,
            "per_class": self.per_class,
            "confusion_matrix": {"labels": self.labels, "matrix": self.confusion_matrix},
        }

    def summary(self) -> dict[str, float]:
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1, "ece": self.ece, "n": self.n}


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Weighted gap between confidence and accuracy over equal-width confidence bins."""
    if len(y_true) == 0:
        return 0.0
    confidence = proba.max(axis=1)
    correct = classes[proba.argmax(axis=1)] == y_true
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, ECE_BINS - 1)
    ece = 0.0
    for b in range(ECE_BINS):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def classification_report(
    y_true: list[str] | np.ndarray, proba: np.ndarray, classes: list[str]
) -> ClassificationReport:
    """Metrics of predicted probabilities `proba` (columns ordered as `classes`) against `y_true`."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    y_true = np.asarray(y_true)
    class_array = np.asarray(classes)
    y_pred = class_array[proba.argmax(axis=1)] if len(y_true) else np.array([], dtype=str)
    labels = sorted(set(classes) | set(y_true.tolist()))
    if not len(y_true):
        return ClassificationReport(
            accuracy=0.0,
            macro_f1=0.0,
            ece=expected_calibration_error(y_true, proba, class_array),
            n=0,
            labels=labels,
            per_class={label: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0} for label in labels},
            confusion_matrix=[],
        )
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_class = {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    present = [label for label in labels if per_class[label]["support"] > 0]
    return ClassificationReport(
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        ece=expected_calibration_error(y_true, proba, class_array),
        n=int(len(y_true)),
        labels=labels,
        per_class=per_class,
        confusion_matrix=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    )
