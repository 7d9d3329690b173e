"""Metrics of the other task kinds: multi-label (micro/macro F1, mAP, per-tag F1) and regression (MAE, RMSE, R²).

`task_report` asks the task kind for its report, so fit, evaluate and study score every kind the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from headstart.metrics import ClassificationReport
from headstart.tasks.field_scores import FieldCounts, FieldScores
from headstart.tasks.labels import DEFAULT_THRESHOLD, multi_hot, target_values

SMALL_TEST = 100  # below this many test items an accuracy is shown with its 95% interval


def accuracy_interval(accuracy: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of an accuracy measured on `n` items.

    scipy's `binomtest(k, n).proportion_ci(method="wilson")` formula (Newcombe 1998), written out: importing
    scipy.stats to print this line cost a warm refit about a second.
    """
    from scipy.special import ndtri

    k = round(accuracy * n)
    p = k / n
    z = float(ndtri(0.5 + 0.5 * confidence))
    denominator = 2 * (n + z**2)
    center = (2 * n * p + z**2) / denominator
    delta = z / denominator * float(np.sqrt(4 * n * p * (1 - p) + z**2))
    low = 0.0 if k == 0 else center - delta
    high = 1.0 if k == n else center + delta
    return float(low), float(high)


def interval_of(summary: dict[str, Any]) -> list[float] | None:
    """[low, high] of the accuracy in a classification `summary` (95 %, Wilson), None for other tasks or n = 0."""
    if "accuracy" not in summary or not summary.get("n"):
        return None
    return [round(x, 4) for x in accuracy_interval(float(summary["accuracy"]), int(summary["n"]))]


def small_test_line(summary: dict[str, Any], what: str = "test items") -> str | None:
    """ "only 12 test items: the accuracy's 95% interval is 0.391–0.862" when n < SMALL_TEST, else None."""
    interval = interval_of(summary)
    if interval is None or summary["n"] >= SMALL_TEST:
        return None
    return f"only {int(summary['n'])} {what}: the accuracy's 95% interval is {interval[0]:.3f}–{interval[1]:.3f}"


@dataclass
class MultiLabelReport:
    """Tags predicted at per-tag thresholds against the true tag sets."""

    micro_f1: float
    macro_f1: float
    mean_average_precision: float
    subset_accuracy: float
    n: int
    labels: list[str]
    per_label: dict[str, dict[str, float | None]]  # average_precision is None for a tag without positives

    task = "multilabel"

    @property
    def score(self) -> float:
        return self.micro_f1

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "micro_f1": self.micro_f1,
            "macro_f1": self.macro_f1,
            "mean_average_precision": self.mean_average_precision,
            "subset_accuracy": self.subset_accuracy,
            "n": self.n,
            "labels": self.labels,
            "per_label": self.per_label,
        }

    def summary(self) -> dict[str, float]:
        return {
            "micro_f1": self.micro_f1,
            "macro_f1": self.macro_f1,
            "map": self.mean_average_precision,
            "subset_accuracy": self.subset_accuracy,
            "n": self.n,
        }


@dataclass
class RegressionReport:
    """Predicted values against the true targets."""

    mae: float
    rmse: float
    r2: float
    n: int
    target_mean: float
    target_std: float

    task = "regression"

    @property
    def score(self) -> float:
        return self.r2

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "mae": self.mae,
            "rmse": self.rmse,
            "r2": self.r2,
            "n": self.n,
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }

    def summary(self) -> dict[str, float]:
        return {"mae": self.mae, "rmse": self.rmse, "r2": self.r2, "n": self.n}


@dataclass
class FieldsReport:
    """Extracted fields against the true ones (`tasks.field_scores`): entity micro-F1 over every field of every
    document, per field the exact-match rate and the wrong / missing / extra counts; `f1_ignoring_spaces` is the
    same F1 with whitespace removed (what OCR that drops spaces between words would score)."""

    scores: FieldScores
    f1_ignoring_spaces: float
    n: int

    task = "fields"

    @property
    def score(self) -> float:
        return self.scores.f1

    @property
    def entity_f1(self) -> float:
        return self.scores.f1

    @property
    def per_field(self) -> dict[str, FieldCounts]:
        return self.scores.per_field

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            **self.scores.to_dict(),
            "entity_f1_ignoring_spaces": round(self.f1_ignoring_spaces, 4),
            "n": self.n,
        }

    def summary(self) -> dict[str, float]:
        return {
            "entity_f1": self.scores.f1,
            "entity_precision": self.scores.precision,
            "entity_recall": self.scores.recall,
            "entity_f1_ignoring_spaces": self.f1_ignoring_spaces,
            "n": self.n,
        }


TaskReport = ClassificationReport | MultiLabelReport | RegressionReport | FieldsReport


def multilabel_report(
    y_true: Sequence[str], proba: np.ndarray, labels: list[str], thresholds: np.ndarray | None
) -> MultiLabelReport:
    """Metrics of per-tag probabilities `proba` (columns ordered as `labels`) against tag sets in `y_true`."""
    from sklearn.metrics import average_precision_score, f1_score, precision_recall_fscore_support

    Y = multi_hot(list(y_true), labels).astype(np.int64)
    limits = thresholds if thresholds is not None else np.full(len(labels), DEFAULT_THRESHOLD)
    P = (proba >= limits[None, :]).astype(np.int64) if len(Y) else np.zeros_like(Y)
    precision, recall, f1, support = precision_recall_fscore_support(Y, P, average=None, zero_division=0)
    present = np.flatnonzero(Y.sum(axis=0) > 0)
    ap = np.full(len(labels), np.nan)
    for j in present:
        ap[j] = average_precision_score(Y[:, j], proba[:, j])
    per_label = {
        label: {
            "precision": float(precision[j]),
            "recall": float(recall[j]),
            "f1": float(f1[j]),
            "support": int(support[j]),
            "average_precision": None if np.isnan(ap[j]) else float(ap[j]),
            "threshold": float(limits[j]),
        }
        for j, label in enumerate(labels)
    }
    n = len(Y)
    return MultiLabelReport(
        micro_f1=float(f1_score(Y, P, average="micro", zero_division=0)) if n else 0.0,
        macro_f1=float(np.mean(f1[present])) if len(present) else 0.0,
        mean_average_precision=float(np.nanmean(ap)) if len(present) else 0.0,
        subset_accuracy=float((Y == P).all(axis=1).mean()) if n else 0.0,
        n=n,
        labels=list(labels),
        per_label=per_label,
    )


def regression_report(y_true: Sequence[str], values: np.ndarray) -> RegressionReport:
    """MAE, RMSE and R² of predicted `values` (N, 1) against the numeric targets in `y_true`."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y = target_values(list(y_true))
    pred = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(y) == 0:
        return RegressionReport(0.0, 0.0, 0.0, 0, 0.0, 0.0)
    return RegressionReport(
        mae=float(mean_absolute_error(y, pred)),
        rmse=float(np.sqrt(mean_squared_error(y, pred))),
        r2=float(r2_score(y, pred)) if len(y) > 1 else 0.0,
        n=int(len(y)),
        target_mean=float(y.mean()),
        target_std=float(y.std()),
    )


def primary_score(report: TaskReport) -> float:
    """The one number a study ranks by: accuracy, micro-F1, R² or entity F1."""
    if isinstance(report, ClassificationReport):
        return report.accuracy
    return report.score
