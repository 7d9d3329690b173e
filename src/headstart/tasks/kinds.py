"""The built-in task kinds: single-label classification, multi-label tags and regression."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.score_names import METRICS
from headstart.tasks.base import Outputs, Record, Task, default_thresholds, register_task
from headstart.tasks.labels import (
    DEFAULT_THRESHOLD,
    REGRESSION_STRATA,
    TAG_JOIN,
    Answer,
    multi_hot,
    parse_number,
    split_tags,
    tags_of,
    target_values,
)

if TYPE_CHECKING:
    from headstart.tasks.metrics import TaskReport
    from headstart.tasks.uncertainty import ScoreError

TRANSFER_SCORES = METRICS  # every score; H-score, TransRate, NCE and LEEP need exclusive classes


class Classification(Task):
    """One label per item among a fixed set of classes."""

    name = "classification"
    outputs = Outputs.CLASSES
    description = "one label per item"
    transfer_scores = TRANSFER_SCORES
    supports = frozenset({"expand", "promote", "export", "memory"})


class MultiLabel(Task):
    """Any number of tags per item, each decided at its own threshold."""

    name = "multilabel"
    outputs = Outputs.TAGS
    description = "a set of tags per item"
    label_word = "tag"
    primary_metric = "micro_f1"
    knn_means = "micro-F1"

    def parse(self, value: object, separator: str) -> tuple[str | None, str | None]:
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

    def classes_of(self, labels: Sequence[str]) -> list[str]:
        return sorted({t for label in labels for t in tags_of(label)})

    def counts_of(self, labels: Sequence[str]) -> dict[str, int]:
        counts = Counter(t for label in labels for t in tags_of(label))
        return {c: counts[c] for c in sorted(counts)}

    def strata(self, labels: Sequence[str]) -> list[str]:
        """Each item's rarest tag."""
        counts = self.counts_of(labels)
        return [min(tags_of(label), key=lambda t: (counts[t], t)) for label in labels]

    def encode(self, labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
        return multi_hot(labels, classes)

    def require_targets(self, y: np.ndarray, what: str = "the training data") -> None:
        from headstart.errors import DataError

        if int((y.sum(axis=0) > 0).sum()) < 2:
            raise DataError(
                f"{what} has fewer than two tags in use",
                expected="items carrying at least two different tags",
                fix="add items with other tags, or check the skipped items listed by `headstart inspect`",
            )

    def thresholds(self, recorded: dict[str, float] | None, labels: Sequence[str]) -> np.ndarray | None:
        return default_thresholds(recorded, labels)

    def decisions(
        self,
        outputs: np.ndarray,
        labels: Sequence[str],
        thresholds: np.ndarray | None,
        records: Sequence[Record] | None = None,
    ) -> list[Any]:
        limits = thresholds if thresholds is not None else np.full(len(labels), DEFAULT_THRESHOLD)
        return [[labels[int(j)] for j in np.flatnonzero(row >= limits)] for row in outputs]

    def answer(
        self,
        row: np.ndarray,
        labels: Sequence[str],
        thresholds: np.ndarray | None,
        top_k: int,
        record: Record | None = None,
    ) -> Answer:
        order = np.argsort(-row)[: min(top_k, len(labels))]
        top = [(labels[j], float(row[j])) for j in order]
        limits = thresholds if thresholds is not None else np.full(len(labels), DEFAULT_THRESHOLD)
        chosen = [labels[j] for j in np.argsort(-row) if row[j] >= limits[j]]
        return Answer(self.name, top=top, labels=chosen)

    def report(
        self,
        y_true: Sequence[str],
        outputs: np.ndarray,
        labels: list[str],
        thresholds: np.ndarray | None = None,
        records: Sequence[Record] | None = None,
    ) -> TaskReport:
        from headstart.tasks.metrics import multilabel_report

        return multilabel_report(y_true, outputs, labels, thresholds)

    def score_error(
        self,
        report: TaskReport,
        y_true: Sequence[str],
        outputs: np.ndarray,
        labels: list[str],
        thresholds: np.ndarray | None = None,
        records: Sequence[Record] | None = None,
    ) -> ScoreError | None:
        """Micro-F1 is no proportion of items: its spread over a bootstrap of the test items (tags decided at the
        same thresholds)."""
        from headstart.tasks.uncertainty import bootstrap_error, micro_f1_of_counts

        truth = multi_hot(list(y_true), labels).astype(bool)
        limits = thresholds if thresholds is not None else np.full(len(labels), DEFAULT_THRESHOLD)
        chosen = np.asarray(outputs) >= limits[None, :] if len(truth) else np.zeros_like(truth)
        tp, fp, fn = ((truth & chosen).sum(1), (~truth & chosen).sum(1), (truth & ~chosen).sum(1))
        return bootstrap_error(micro_f1_of_counts(tp, fp, fn), len(truth))


class Regression(Task):
    """One real-valued target per item."""

    name = "regression"
    outputs = Outputs.VALUE
    description = "a number per item"
    label_word = "target"
    primary_metric = "r2"
    knn_means = "R²"

    def parse(self, value: object, separator: str) -> tuple[str | None, str | None]:
        number = parse_number(value)
        if number is None:
            return None, f"target {value!r} is not a number (regression needs a numeric value in every row)"
        return repr(number), None

    def classes_of(self, labels: Sequence[str]) -> list[str]:
        return []

    def counts_of(self, labels: Sequence[str]) -> dict[str, int]:
        return {}

    def strata(self, labels: Sequence[str]) -> list[str]:
        """Each item's quantile bin of the target."""
        values = target_values(labels)
        if len(values) == 0:
            return []
        edges = np.unique(np.quantile(values, np.linspace(0, 1, REGRESSION_STRATA + 1)[1:-1]))
        return [f"bin {int(b)}" for b in np.searchsorted(edges, values, side="right")]

    def encode(self, labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
        return target_values(labels).astype(np.float32)

    def output_names(self, classes: Sequence[str], target: str | None) -> list[str]:
        return [target or "value"]

    def require_targets(self, y: np.ndarray, what: str = "the training data") -> None:
        from headstart.errors import DataError

        if len(np.unique(y)) < 2:
            raise DataError(
                f"{what} has {len(np.unique(y))} distinct target value(s)",
                expected="at least two different target values",
                fix="add items with other values, or check the skipped items listed by `headstart inspect`",
            )

    def decisions(
        self,
        outputs: np.ndarray,
        labels: Sequence[str],
        thresholds: np.ndarray | None,
        records: Sequence[Record] | None = None,
    ) -> list[Any]:
        return [float(v) for v in outputs[:, 0]]

    def answer(
        self,
        row: np.ndarray,
        labels: Sequence[str],
        thresholds: np.ndarray | None,
        top_k: int,
        record: Record | None = None,
    ) -> Answer:
        return Answer(self.name, value=float(row[0]))

    def report(
        self,
        y_true: Sequence[str],
        outputs: np.ndarray,
        labels: list[str],
        thresholds: np.ndarray | None = None,
        records: Sequence[Record] | None = None,
    ) -> TaskReport:
        from headstart.tasks.metrics import regression_report

        return regression_report(y_true, outputs)

    def score_error(
        self,
        report: TaskReport,
        y_true: Sequence[str],
        outputs: np.ndarray,
        labels: list[str],
        thresholds: np.ndarray | None = None,
        records: Sequence[Record] | None = None,
    ) -> ScoreError | None:
        """R² is no proportion: its spread over a bootstrap of the test items."""
        from headstart.tasks.uncertainty import bootstrap_error, r2_of

        y = target_values(list(y_true))
        pred = np.asarray(outputs, dtype=np.float64).reshape(-1)
        return bootstrap_error(r2_of(y, pred), len(y))


CLASSIFICATION = register_task(Classification())
MULTILABEL = register_task(MultiLabel())
REGRESSION = register_task(Regression())
DEFAULT_TASK = CLASSIFICATION.name  # what bundles and data written before task kinds existed are
