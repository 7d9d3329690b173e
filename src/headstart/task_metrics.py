"""Moved to `headstart.tasks.metrics`; kept while the modules importing it move (see issue 18)."""

from headstart.tasks import all_tasks
from headstart.tasks.metrics import (
    DISPLAY_NAMES,
    SMALL_TEST,
    MultiLabelReport,
    RegressionReport,
    TaskReport,
    accuracy_interval,
    interval_of,
    multilabel_report,
    primary_metric,
    primary_score,
    regression_report,
    small_test_line,
    task_report,
)

PRIMARY = {task.name: task.primary_metric for task in all_tasks()}

__all__ = [
    "DISPLAY_NAMES",
    "PRIMARY",
    "SMALL_TEST",
    "MultiLabelReport",
    "RegressionReport",
    "TaskReport",
    "accuracy_interval",
    "interval_of",
    "multilabel_report",
    "primary_metric",
    "primary_score",
    "regression_report",
    "small_test_line",
    "task_report",
]
