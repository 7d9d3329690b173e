"""Names of the scores: the transferability scores per task kind, and how users read a task metric's name.

No heavy imports: the CLI's help lists them, and the report, the study verdict and the tables all name metrics here.
"""

from __future__ import annotations

METRICS: tuple[str, ...] = ("logme", "knn", "hscore", "transrate", "nce", "leep")
SOURCE_HEAD_METRICS = ("nce", "leep")
# the scores defined for each task kind: H-score, TransRate, NCE and LEEP need classes
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": METRICS,
    "regression": ("logme", "knn"),  # LogME of the real-valued target; kNN = cross-validated kNN regression R²
    "multilabel": ("logme", "knn"),  # LogME = mean over tags of the 0/1 target's; kNN = cross-validated micro-F1
}

# a task metric as the report, the study verdict and the CLI tables name it; a metric not listed reads as its key
DISPLAY_NAMES: dict[str, str] = {
    "accuracy": "accuracy",
    "micro_f1": "micro-F1",
    "macro_f1": "macro-F1",
    "r2": "R²",
    "map": "mAP",
    "ece": "ECE",
    "entity_f1": "entity F1",
}


def display_name(metric: str) -> str:
    """How users read `metric` (`micro_f1` -> "micro-F1", `r2` -> "R²"); an unlisted metric reads as its key."""
    return DISPLAY_NAMES.get(metric, metric)
