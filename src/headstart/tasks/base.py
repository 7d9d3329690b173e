"""The `Task` seam: one object per task kind owns its labels, outputs, answers, metrics and report.

Code outside `headstart.tasks` never compares a task name to a string: it asks `get_task(name)` and uses the
object's methods and attributes. A new task kind is added by subclassing `Task` and calling `register_task`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from headstart.errors import UsageError
from headstart.plugins import load_plugins
from headstart.tasks.labels import DEFAULT_THRESHOLD, Answer

if TYPE_CHECKING:
    from headstart.tasks.metrics import TaskReport
    from headstart.tasks.uncertainty import ScoreError


class Outputs(StrEnum):
    """What a model of the task outputs per item; heads, losses and scores are chosen by this, not by the name."""

    CLASSES = "classes"  # one probability per class, summing to 1 (softmax; cross-entropy)
    TAGS = "tags"  # one independent probability per tag, decided at per-tag thresholds (sigmoid; BCE)
    VALUE = "value"  # one real number (a linear output; MSE or Huber)
    FIELDS = "fields"  # a value per named field of a document, read off its OCR lines (a `Record` per item)


Record = Mapping[str, Any]
"""One item's structured output, for kinds whose answer is not a row of numbers: a document's fields (field name ->
{"value", "confidence", "lines", "page", "box"}). Models of those kinds give one per item beside their `outputs`."""


class Task:
    """A task kind. Subclasses set the class attributes and override what differs from single-label classes."""

    name: ClassVar[str]
    outputs: ClassVar[Outputs]
    description: ClassVar[str] = ""
    label_word: ClassVar[str] = "class"  # what one label is called in tables and messages ("tag" for multilabel)
    primary_metric: ClassVar[str] = "accuracy"  # the one number a study ranks by
    transfer_scores: ClassVar[tuple[str, ...]] = ("logme", "knn")  # transferability scores defined for it
    knn_means: ClassVar[str] = "accuracy"  # what the kNN transferability score measures for it
    # commands and features built for single-label classes (expand, promote, export, exemplar memory)
    supports: ClassVar[frozenset[str]] = frozenset()
    promotion_metrics: ClassVar[tuple[str, ...]] = ("macro_f1", "accuracy", "ece")  # `promote`'s; the first: default
    budget_unit: ClassVar[str] = "labels per class"  # what a label budget counts (`--labels-per-class`, study budgets)

    # ------------------------------------------------------------ labels

    def parse(self, value: object, separator: str) -> tuple[str | None, str | None]:
        """(label string, None) for a usable non-missing target cell, else (None, the reason)."""
        text = str(value).strip()
        return (text, None) if text else (None, f"empty label {value!r}")

    def classes_of(self, labels: Sequence[str]) -> list[str]:
        """The sorted output classes (tags) that `labels` hold; none for a value task."""
        return sorted(set(labels))

    def counts_of(self, labels: Sequence[str]) -> dict[str, int]:
        """Items per class (per tag); empty for a value task."""
        counts: dict[str, int] = {}
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
        return {c: counts[c] for c in sorted(counts)}

    def strata(self, labels: Sequence[str]) -> list[str]:
        """The group of each item that splits and label budgets stratify on."""
        return list(labels)

    @property
    def has_classes(self) -> bool:
        """Whether the task's labels are classes or tags (a label budget, class counts, confusion...)."""
        return self.outputs is not Outputs.VALUE

    @property
    def stratifies_by_class(self) -> bool:
        """Whether every split must hold every class (single-label kinds)."""
        return self.outputs is Outputs.CLASSES

    def encode(self, labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
        """Training targets: class indices (int64) by default."""
        index = {c: j for j, c in enumerate(classes)}
        return np.array([index[label] for label in labels], dtype=np.int64)

    def output_names(self, classes: Sequence[str], target: str | None) -> list[str]:
        """A model's output names: its classes (or tags), or the target's name for a value task."""
        return list(classes)

    def require_targets(self, y: np.ndarray, what: str = "the training data") -> None:
        """DataError when encoded targets `y` cannot train a model (a constant target, one tag...)."""

    # ------------------------------------------------------------ answers

    def thresholds(self, recorded: dict[str, float] | None, labels: Sequence[str]) -> np.ndarray | None:
        """Per-label decision thresholds in label order (None when the task decides by argmax or has none)."""
        return None

    def decisions(
        self,
        outputs: np.ndarray,
        labels: Sequence[str],
        thresholds: np.ndarray | None,
        records: Sequence[Record] | None = None,
    ) -> list[Any]:
        """Per-item predictions (what `Predictor.predict` returns): a label by default."""
        return [labels[j] for j in outputs.argmax(axis=1)] if len(outputs) else []

    def answer(
        self,
        row: np.ndarray,
        labels: Sequence[str],
        thresholds: np.ndarray | None,
        top_k: int,
        record: Record | None = None,
    ) -> Answer:
        """One item's answer from one row of model outputs (top-k by probability) and its `record`, if any."""
        order = np.argsort(-row)[: min(top_k, len(labels))]
        top = [(labels[j], float(row[j])) for j in order]
        return Answer(self.name, label=top[0][0], probability=top[0][1], top=top)

    # ------------------------------------------------------------ metrics

    def report(
        self,
        y_true: Sequence[str],
        outputs: np.ndarray,
        labels: list[str],
        thresholds: np.ndarray | None = None,
        records: Sequence[Record] | None = None,
    ) -> TaskReport:
        """The task's metrics of model `outputs` (and `records`, for kinds that give them) against `y_true`."""
        from headstart.metrics import classification_report

        return classification_report(list(y_true), outputs, labels)

    def score_error(
        self,
        report: TaskReport,
        y_true: Sequence[str],
        outputs: np.ndarray,
        labels: list[str],
        thresholds: np.ndarray | None = None,
        records: Sequence[Record] | None = None,
    ) -> ScoreError | None:
        """The standard error of `report`'s primary score on a test split of its size (a study weighs differences
        against it): accuracy is a proportion over the test items. None when the kind cannot say."""
        from headstart.tasks.uncertainty import proportion_error

        accuracy = getattr(report, "accuracy", None)
        if accuracy is None or self.primary_metric != "accuracy":  # a kind ranked by another score says its own
            return None
        return proportion_error(float(accuracy), int(report.n))

    # ------------------------------------------------------------ commands

    def refuse(self, what: str, fix: str | None = None) -> None:
        """UsageError when `what` (a command or feature, a key of `supports`) is not built for this task."""
        if what in self.supports:
            return
        alternatives = [t.name for t in all_tasks() if what in t.supports]
        raise UsageError(
            f"`headstart {what}` does not support {self.name} models or data",
            expected=f"a {' or '.join(alternatives) or 'different'} task",
            fix=fix
            or f"use `headstart fit` / `evaluate` / `predict` for {self.name}, or run `headstart {what}` on "
            "single-label data",
        )

    def __repr__(self) -> str:
        return f"<Task {self.name}>"


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Make `task` known by its name (to --task, manifests, reports); returns it."""
    _TASKS[task.name] = task
    return task


def unregister_task(name: str) -> None:
    """Forget a registered task kind (tests register fakes)."""
    _TASKS.pop(name, None)


def get_task(name: str | Task) -> Task:
    """The registered task kind called `name` (a Task is returned as is); UsageError when unknown."""
    if isinstance(name, Task):
        return name
    task = _TASKS.get(name)
    if task is None and load_plugins("headstart.tasks"):
        task = _TASKS.get(name)
    if task is None:
        raise UsageError(
            f"task={name!r} is not a known task kind",
            expected=f"one of auto, {', '.join(_TASKS)}",
            fix=f"pass --task auto (detect), {', '.join(_TASKS)}",
        )
    return task


def is_task(name: object) -> bool:
    """Whether `name` is a registered task kind."""
    return isinstance(name, str) and name in _TASKS


def all_tasks() -> list[Task]:
    """The registered task kinds, in registration order (plugins' after the built-ins)."""
    load_plugins("headstart.tasks")
    return list(_TASKS.values())


def task_names() -> tuple[str, ...]:
    return tuple(_TASKS)


def default_thresholds(recorded: dict[str, float] | None, labels: Sequence[str]) -> np.ndarray:
    """Each label's recorded threshold, or the default."""
    recorded = recorded or {}
    return np.array([float(recorded.get(label, DEFAULT_THRESHOLD)) for label in labels])
