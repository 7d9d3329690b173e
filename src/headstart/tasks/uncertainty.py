"""How much a test score would move on another test split of the same size: the standard error a study's verdict
weighs differences against, from a proportion's binomial error or a bootstrap over the test items."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 400  # enough for a standard error within about 4 % of itself
BOOTSTRAP_SEED = 0  # the same resamples for every cell: a study's verdict is reproducible
ITEM_PROPORTIONS = frozenset({"accuracy"})  # primary scores that are a proportion of the test items: their binomial
# error needs only the number of items (what a study falls back on for results recorded before cells kept their error)


@dataclass(frozen=True)
class ScoreError:
    """The standard error `se` of a test score (in the score's own units), measured over `n` `unit` (test items,
    test documents...) by `method` (binomial, bootstrap)."""

    se: float
    n: int
    unit: str
    method: str

    def to_record(self) -> dict[str, float | int | str]:
        """The fields a study's cell record keeps."""
        return {"score_se": self.se, "score_n": self.n, "score_unit": self.unit, "score_se_method": self.method}


def proportion_error(p: float, n: int, unit: str = "test items") -> ScoreError | None:
    """The binomial standard error sqrt(p(1-p)/n) of a proportion measured over `n` units; None when n is 0.

    A perfect (or null) score is taken half a unit from its bound: 12 of 12 right does not measure a model that is
    never wrong, and an error of 0 would call every difference from it real."""
    if n <= 0:
        return None
    p = min(max(float(p), 0.5 / n), 1 - 0.5 / n)
    return ScoreError(math.sqrt(p * (1 - p) / n), n, unit, "binomial")


def bootstrap_error(
    score: Callable[[np.ndarray], float], n: int, unit: str = "test items", resamples: int = BOOTSTRAP_RESAMPLES
) -> ScoreError | None:
    """The standard deviation of `score(indices)` over `resamples` draws of `n` test items with replacement;
    None with fewer than two items."""
    if n < 2:
        return None
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = rng.integers(0, n, size=(resamples, n))
    values = np.array([score(rows) for rows in draws], dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return None
    return ScoreError(float(values.std(ddof=1)), n, unit, "bootstrap")


def micro_f1_of_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> Callable[[np.ndarray], float]:
    """A bootstrap statistic: micro-F1 of the items `rows` from per-item true / false positive and false negative
    counts (0 when nothing is predicted or true)."""

    def score(rows: np.ndarray) -> float:
        t, p, n = tp[rows].sum(), fp[rows].sum(), fn[rows].sum()
        return float(2 * t / (2 * t + p + n)) if 2 * t + p + n else 0.0

    return score


def r2_of(y: np.ndarray, pred: np.ndarray) -> Callable[[np.ndarray], float]:
    """A bootstrap statistic: R² of the items `rows` (NaN when their targets are all equal: the draw is dropped)."""

    def score(rows: np.ndarray) -> float:
        truth = y[rows]
        total = float(((truth - truth.mean()) ** 2).sum())
        return 1 - float(((truth - pred[rows]) ** 2).sum()) / total if total > 0 else math.nan

    return score


def combined_error(test_se: float | None, seed_std: float | None, seeds: int) -> float | None:
    """The standard error of a mean over `seeds` fits scored on one test split: the test split's own error (shared
    by every seed, so it does not shrink) and the seeds' spread over sqrt(seeds), in quadrature."""
    parts = []
    if test_se is not None:
        parts.append(test_se**2)
    if seeds > 1 and seed_std is not None:
        parts.append(seed_std**2 / seeds)
    return math.sqrt(sum(parts)) if parts else None

