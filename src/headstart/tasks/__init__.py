"""Task kinds: the `Task` objects and their registry, label strings and the functions that go through them.

`get_task(name)` answers everything that differs between kinds (labels, targets, thresholds, answers,
metrics); the functions below take a task name for callers that hold one and ask its object.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.tasks.base import Outputs, Record, Task, all_tasks, get_task, is_task, register_task, task_names
from headstart.tasks.kinds import CLASSIFICATION, DEFAULT_TASK, MULTILABEL, REGRESSION
from headstart.tasks.labels import (
    DEFAULT_SEPARATOR,
    DEFAULT_THRESHOLD,
    REGRESSION_STRATA,
    TAG_JOIN,
    THRESHOLD_GRID,
    Answer,
    multi_hot,
    parse_number,
    split_tags,
    tags_of,
    target_values,
    tune_thresholds,
)

if TYPE_CHECKING:
    from headstart.tasks.metrics import TaskReport
    from headstart.tasks.uncertainty import ScoreError

TASKS: tuple[str, ...] = (CLASSIFICATION.name, MULTILABEL.name, REGRESSION.name)  # the built-in kinds
AUTO = "auto"  # --task auto: detect the kind from the data


def task_choices() -> tuple[str, ...]:
    """What --task accepts: auto and every registered kind."""
    return (AUTO, *task_names())


def check_task(task: str) -> str:
    """`task` when it is a known kind or `auto`, else a UsageError."""
    if task != AUTO:
        get_task(task)
    return task


ALTERNATIVES = {  # what to do instead, per command that handles classification only
    "`headstart export`": "serve it with `headstart serve` (every task kind), or export a classification model",
    "`headstart promote`": "compare both with `headstart evaluate` on the same data and switch by hand",
    "`headstart expand`": "retrain with `headstart fit` on all the data",
}


def refuse_task(task: str | Task, what: str) -> None:
    """UsageError when `what` (a command, e.g. "`headstart expand`") cannot handle `task`, with what to do instead."""
    get_task(task).refuse(what.strip("`").removeprefix("headstart "), fix=ALTERNATIVES.get(what))


def task_label(value: object, task: str, separator: str) -> tuple[str | None, str | None]:
    """(label string, None) for a usable non-missing target cell of `task`, else (None, reason)."""
    return get_task(task).parse(value, separator)


def detect_task(values: Iterable[object], task: str, separator: str, *, numeric_target: bool) -> str:
    """The task kind: `task` unless `auto`; then regression for a `--target` column, multi-label when a cell
    holds the separator between two tags, else classification."""
    check_task(task)
    if task != AUTO:
        return task
    if numeric_target:
        return REGRESSION.name
    for value in values:
        if isinstance(value, list | tuple | np.ndarray) or (
            isinstance(value, str) and len(split_tags(value, separator)) > 1
        ):
            return MULTILABEL.name
    return CLASSIFICATION.name


def classes_of(labels: Sequence[str] | None, task: str) -> list[str]:
    """Sorted classes (tags for multi-label; none for regression or without labels)."""
    return [] if labels is None else get_task(task).classes_of(labels)


def counts_of(labels: Sequence[str] | None, task: str) -> dict[str, int]:
    """Items per class (per tag for multi-label; none for regression or without labels)."""
    return {} if labels is None else get_task(task).counts_of(labels)


def strata(labels: Sequence[str], task: str) -> list[str]:
    """The group of each item that splits and budgets stratify on: its class, its rarest tag, or its quantile bin."""
    return get_task(task).strata(labels)


def encode_targets(labels: Sequence[str], task: str, classes: Sequence[str]) -> np.ndarray:
    """Training targets: class indices (int64), multi-hot rows (float32) or values (float32)."""
    return get_task(task).encode(labels, classes)


def answer(
    task: str,
    row: np.ndarray,
    labels: Sequence[str],
    thresholds: np.ndarray | None,
    top_k: int,
    record: Record | None = None,
) -> Answer:
    """Turn one row of model outputs (and the item's record, for fields) into an Answer (top-k for the label kinds)."""
    kind = get_task(task)  # a kind without records is asked as before (a plugin's override may not take one)
    return kind.answer(row, labels, thresholds, top_k) if record is None else kind.answer(
        row, labels, thresholds, top_k, record=record
    )


def decisions(
    task: str,
    outputs: np.ndarray,
    labels: Sequence[str],
    thresholds: np.ndarray | None,
    records: Sequence[Record] | None = None,
) -> list[Any]:
    """Per-item predictions: a label, a list of tags, a float, or a document's field values."""
    kind = get_task(task)
    return kind.decisions(outputs, labels, thresholds) if records is None else kind.decisions(
        outputs, labels, thresholds, records=records
    )


def task_report(
    task: str,
    y_true: Sequence[str],
    outputs: np.ndarray,
    labels: list[str],
    thresholds: np.ndarray | None = None,
    records: Sequence[Record] | None = None,
) -> TaskReport:
    """The report of `task`'s kind for model `outputs` (and `records`) against the dataset labels `y_true`."""
    kind = get_task(task)
    return kind.report(y_true, outputs, labels, thresholds) if records is None else kind.report(
        y_true, outputs, labels, thresholds, records=records
    )


def score_error(
    task: str,
    report: TaskReport,
    y_true: Sequence[str],
    outputs: np.ndarray,
    labels: list[str],
    thresholds: np.ndarray | None = None,
    records: Sequence[Record] | None = None,
) -> ScoreError | None:
    """The standard error of `report`'s primary score on its test split, as `task`'s kind measures it (None: the
    kind cannot say)."""
    return get_task(task).score_error(report, y_true, outputs, labels, thresholds, records)


def primary_metric(task: str) -> str:
    """The name of the one number a study ranks `task` by (accuracy, micro_f1, r2...)."""
    return get_task(task).primary_metric


__all__ = [
    "AUTO",
    "CLASSIFICATION",
    "DEFAULT_SEPARATOR",
    "DEFAULT_TASK",
    "DEFAULT_THRESHOLD",
    "MULTILABEL",
    "REGRESSION",
    "REGRESSION_STRATA",
    "TAG_JOIN",
    "TASKS",
    "THRESHOLD_GRID",
    "Answer",
    "Outputs",
    "Record",
    "Task",
    "all_tasks",
    "answer",
    "check_task",
    "classes_of",
    "counts_of",
    "decisions",
    "detect_task",
    "encode_targets",
    "get_task",
    "is_task",
    "multi_hot",
    "parse_number",
    "primary_metric",
    "refuse_task",
    "register_task",
    "score_error",
    "split_tags",
    "strata",
    "tags_of",
    "target_values",
    "task_choices",
    "task_label",
    "task_names",
    "task_report",
    "tune_thresholds",
]
