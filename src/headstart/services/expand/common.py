"""What every kind of expansion shares: its result record, the forgetting checks, the parent's fit options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from headstart.config import ExpandConfig, FitConfig
from headstart.data import Dataset
from headstart.data.dataset import SkippedItem
from headstart.errors import BundleError, DataError, HeadstartError, StrategyError
from headstart.manifest import Manifest
from headstart.strategies.base import Model
from headstart.strategies.centroid import CentroidHead
from headstart.strategies.linear import LinearHead
from headstart.strategies.memory import ExemplarMemory


def l2_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float64; zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass
class ExpandInputs:
    """What every kind of expansion reads: the parent's manifest and exemplar memory, the training part of
    NEW_DATA, the grown label list and this run's options."""

    manifest: Manifest
    memory: ExemplarMemory | None
    train: Dataset
    labels: list[str]  # the parent's labels, then the added ones
    per_class: int | None  # exemplars per class the new bundle keeps (None: all, up to the byte cap)
    config: ExpandConfig


@dataclass
class Expansion:
    """What one strategy-specific expansion produced."""

    model: Model
    memory: ExemplarMemory | None
    method: str
    n_train: int
    history: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)  # forgetting checks on the old-class exemplars
    head_extra: dict[str, Any] = field(default_factory=dict)
    rehearsal: int | None = None  # old items the expansion trained on (None: the stored exemplars)


def no_memory_error(manifest: Manifest, degraded: bool) -> HeadstartError:
    reason = manifest.head.memory_reason or "the bundle predates exemplar memory (it was fitted without it)"
    lost = "retraining on the new data alone would forget the old classes"
    if degraded:
        return BundleError(
            f"the bundle keeps no exemplars of its old classes ({reason}); {lost}",
            expected="a bundle fitted with exemplar memory (the default for linear and partial:K)",
            fix="pass --allow-forgetting to grow the head and train on the new data only (the old model's "
            "outputs on it, distilled, are the only anchor), or refit on all data with `headstart fit`",
        )
    return BundleError(
        f"the bundle keeps no exemplars of its old classes ({reason}); {lost}",
        expected="a linear bundle fitted with exemplar memory (the default; not --memory 0)",
        fix="refit on old + new data with `headstart fit` (it then keeps exemplars for the next expand)",
    )


def run_options(config: ExpandConfig) -> dict[str, Any]:
    return {
        "threads": config.threads,
        "batch_size": config.batch_size,
        "on_bad": config.on_bad,
        "progress": config.progress,
    }


def reorder_rows(head: LinearHead | CentroidHead, labels: list[str]) -> None:
    """Put the head's rows in `labels` order (old labels first, new appended) instead of sorted order."""
    classes = [str(c) for c in head.classes_]
    if classes == labels:
        return
    missing = [label for label in labels if label not in classes]
    if missing:
        raise DataError(
            f"no training item of class(es) {', '.join(map(repr, missing))} could be used: each was skipped as "
            "unreadable, or held out for the test",
            expected="at least one readable training example of every class",
            fix="fix or replace the class's files (`headstart inspect NEW_DATA` lists the bad ones), or add examples",
        )
    if head.coef_.shape[0] == 1:
        raise StrategyError("a binary linear head cannot be reordered", fix="report this as a bug")
    order = [classes.index(label) for label in labels]
    head.coef_ = head.coef_[order]
    head.intercept_ = head.intercept_[order]
    head.classes_ = np.array(labels)


def forgetting_checks(before: np.ndarray, after: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
    """Forgetting checks on the old classes' stored exemplars (training items, so not a test)."""
    if len(targets) == 0:
        return {}
    return {
        "on": "the old classes' stored exemplars (trained on: a forgetting check, not a test)",
        "n": int(len(targets)),
        "parent_accuracy": float((before == targets).mean()),
        "accuracy": float((after == targets).mean()),
        "agreement_with_parent": float((before == after).mean()),
    }


def parent_fit_config(manifest: Manifest, config: ExpandConfig, per_class: int | None) -> FitConfig:
    """The parent's fit options with this run's runtime options (for the strategy's data helpers); the memory's
    size cap is `config.memory_mb`, else the parent memory's."""
    saved = {k: v for k, v in (manifest.config or {}).items() if k in FitConfig.model_fields}
    parent_cap = (manifest.head.memory or {}).get("max_bytes")
    saved.update(
        memory_mb=config.memory_mb or (parent_cap / 2**20 if parent_cap else saved.get("memory_mb")),
        threads=config.threads,
        batch_size=config.batch_size,
        on_bad=config.on_bad,
        progress=config.progress,
        seed=config.seed,
        out=config.out,
        memory=per_class,
        resume=False,
        track=False,
    )
    return FitConfig(**saved)
