"""Names of the transferability scores, per task kind (no heavy imports: the CLI's help lists them)."""

from __future__ import annotations

METRICS: tuple[str, ...] = ("logme", "knn", "hscore", "transrate", "nce", "leep")
SOURCE_HEAD_METRICS = ("nce", "leep")
# the scores defined for each task kind: H-score, TransRate, NCE and LEEP need classes
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": METRICS,
    "regression": ("logme", "knn"),  # LogME of the real-valued target; kNN = cross-validated kNN regression R²
    "multilabel": ("logme", "knn"),  # LogME = mean over tags of the 0/1 target's; kNN = cross-validated micro-F1
}
