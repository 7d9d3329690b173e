"""Linear heads for the other task kinds: one-vs-rest logistic regression (multi-label) and ridge (regression).

Both follow `LinearHead`'s contract (options in the constructor, `fit` learns, learned state ends in `_`, only
plain arrays are kept) so the linear strategy, the baseline and the gradient strategies' probes can use them.
Multi-label thresholds are tuned per label on out-of-fold probabilities, so no training item is held back.
"""

from __future__ import annotations

import warnings
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from headstart.strategies.regularisation import small_problem_threads
from headstart.strategies.standardise import fit_standardiser, standardised
from headstart.tasks import DEFAULT_THRESHOLD, Outputs, get_task, tune_thresholds

C_GRID = (0.01, 0.1, 1.0)
ALPHAS = tuple(float(a) for a in np.logspace(-2, 5, 15))
MAX_FOLDS = 3
MIN_ITEMS_FOR_CV = 6


def _standardise(head: Any, X: Any) -> Any:
    """Fit the scaler when the head standardises (dense features); sparse rows are used as they are."""
    if not head.standardise:
        return X
    head.mean_, head.scale_ = fit_standardiser(X)
    return standardised(X, head.mean_, head.scale_)


def _scaled(head: Any, X: Any) -> Any:
    if not head.standardise:
        return X
    return standardised(X, head.mean_, head.scale_)


def _linear(X: Any, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return np.asarray(X @ coef.T) + intercept


class _LinearState:
    """The arrays of a linear head (its feature scaling when standardised, weights, intercepts): what a bundle
    stores, and how a loaded head gets them back."""

    standardise = True

    def state(self) -> dict[str, np.ndarray]:
        scaling = {"mean": self.mean_, "scale": self.scale_} if self.standardise else {}
        return {**scaling, "coef": self.coef_, "intercept": self.intercept_}

    def _restore(self, state: dict[str, np.ndarray]) -> Self:
        if self.standardise:
            self.mean_, self.scale_ = state["mean"], state["scale"]
        self.coef_, self.intercept_ = state["coef"], state["intercept"]
        return self


class MultiLabelHead(_LinearState):
    """One logistic regression per tag on standardised features; C chosen and thresholds tuned out of fold.

    A tag that is always (or never) present in a training fold gets a constant, smoothed probability.
    """

    standardise = True
    c_grid: tuple[float, ...] = C_GRID

    def __init__(self, C: float | None = None, seed: int = 0, max_iter: int = 2000) -> None:
        self.C = C
        self.seed = seed
        self.max_iter = max_iter

    def _fit_columns(self, X: Any, Y: np.ndarray, C: float) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.linear_model import LogisticRegression

        coef = np.zeros((Y.shape[1], X.shape[1]), dtype=np.float32)
        intercept = np.zeros(Y.shape[1], dtype=np.float32)
        for j in range(Y.shape[1]):
            y = Y[:, j]
            if y.min() == y.max():
                rate = (y.sum() + 0.5) / (len(y) + 1.0)
                intercept[j] = float(np.log(rate / (1 - rate)))
                continue
            model = LogisticRegression(C=C, max_iter=self.max_iter, random_state=self.seed).fit(X, y)
            coef[j], intercept[j] = model.coef_[0], model.intercept_[0]
        return coef, intercept

    def fit(self, X: Any, Y: np.ndarray) -> Self:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import KFold

        Y = (np.asarray(Y) > 0.5).astype(np.int64)
        Xs = _standardise(self, X)
        grid = (self.C,) if self.C is not None else self.c_grid
        self.thresholds_ = np.full(Y.shape[1], DEFAULT_THRESHOLD)
        self.threshold_source_ = "default 0.5: too few items to tune out of fold"
        with warnings.catch_warnings(), small_problem_threads(Xs):
            warnings.simplefilter("ignore", ConvergenceWarning)
            if len(Y) >= MIN_ITEMS_FOR_CV:
                folds = list(KFold(n_splits=MAX_FOLDS, shuffle=True, random_state=self.seed).split(Xs))
                oof = {C: np.zeros(Y.shape, dtype=np.float64) for C in grid}
                for train, held_out in folds:
                    for C in grid:
                        coef, intercept = self._fit_columns(Xs[train], Y[train], C)
                        oof[C][held_out] = expit(_linear(Xs[held_out], coef, intercept))
                losses = {C: _bce(Y, p) for C, p in oof.items()}
                self.C_ = float(min(grid, key=lambda C: losses[C]))
                self.thresholds_ = tune_thresholds(Y, oof[self.C_])
                self.threshold_source_ = f"tuned per label on {MAX_FOLDS}-fold out-of-fold probabilities (best F1)"
            else:
                self.C_ = float(grid[-1] if self.C is None else self.C)
            self.coef_, self.intercept_ = self._fit_columns(Xs, Y, self.C_)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        return _linear(_scaled(self, X), self.coef_, self.intercept_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Independent probability of each tag, shape (N, n_tags); rows need not sum to 1."""
        return expit(self.decision_function(X))

    def config(self) -> dict[str, Any]:
        return {
            "kind": "one-vs-rest logreg",
            "C": self.C_,
            "C_search": None if self.C is not None else list(self.c_grid),
            "scaling": "standard" if self.standardise else None,
            "thresholds": getattr(self, "threshold_source_", "stored in the manifest"),
        }

    @classmethod
    def from_state(cls, config: dict[str, Any], state: dict[str, np.ndarray]) -> Self:
        head = cls(C=config.get("C"))
        head.C_ = float(config["C"])
        return head._restore(state)


class SparseMultiLabelHead(MultiLabelHead):
    """`MultiLabelHead` on rows that share one scale (sparse TF-IDF, pixels in [0, 1]): no standardisation, which
    would densify sparse rows and blow up near-constant pixels, and a C grid for such rows."""

    standardise = False
    c_grid = (1.0, 10.0, 100.0)


class RidgeHead(_LinearState):
    """Ridge regression on standardised features and a standardised target; alpha by efficient leave-one-out."""

    standardise = True

    def __init__(self, alpha: float | None = None) -> None:
        self.alpha = alpha

    def fit(self, X: Any, y: np.ndarray) -> Self:
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        Xs = _standardise(self, X)
        self.target_mean_ = float(y.mean())
        self.target_scale_ = float(y.std()) or 1.0
        z = (y - self.target_mean_) / self.target_scale_
        alphas = (self.alpha,) if self.alpha is not None else ALPHAS
        from sklearn.linear_model import RidgeCV

        model = RidgeCV(alphas=alphas).fit(Xs if not sp.issparse(Xs) else Xs.tocsr(), z)
        self.alpha_ = float(model.alpha_)
        self.coef_ = (np.asarray(model.coef_, dtype=np.float64) * self.target_scale_).reshape(1, -1).astype(np.float32)
        self.intercept_ = np.array([model.intercept_ * self.target_scale_ + self.target_mean_], dtype=np.float32)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Predicted values, shape (N, 1) (named like the other heads' output method)."""
        return _linear(_scaled(self, X), self.coef_.astype(np.float64), self.intercept_.astype(np.float64))

    def config(self) -> dict[str, Any]:
        return {
            "kind": "ridge",
            "alpha": self.alpha_,
            "alpha_search": None if self.alpha is not None else list(ALPHAS),
            "selection": "efficient leave-one-out (RidgeCV)",
            "scaling": "standard" if self.standardise else None,
        }

    @classmethod
    def from_state(cls, config: dict[str, Any], state: dict[str, np.ndarray]) -> Self:
        head = cls(alpha=config.get("alpha"))
        head.alpha_ = float(config["alpha"])
        return head._restore(state)


class SparseRidgeHead(RidgeHead):
    """`RidgeHead` on rows that share one scale (sparse TF-IDF, pixels in [0, 1]): features used as they are."""

    standardise = False


def _bce(Y: np.ndarray, P: np.ndarray) -> float:
    P = np.clip(P, 1e-7, 1 - 1e-7)
    return float(-(Y * np.log(P) + (1 - Y) * np.log(1 - P)).mean())


def task_head(task: str, *, standardise: bool = True, C: float | None = None, seed: int = 0) -> Any:
    """The linear head for a multilabel or regression task; `standardise=False` for features on one scale."""
    if get_task(task).outputs is Outputs.TAGS:
        return (MultiLabelHead if standardise else SparseMultiLabelHead)(C=C, seed=seed)
    return RidgeHead() if standardise else SparseRidgeHead()


def load_task_head(task: str, config: dict[str, Any], state: dict[str, np.ndarray]) -> Any:
    """Rebuild a head saved by `task_head(...).state()` (its config says whether it standardised)."""
    return task_head(task, standardise=config.get("scaling") == "standard").from_state(config, state)
