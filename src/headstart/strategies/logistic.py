"""The linear head's logistic regression without scikit-learn: the same objective, solver, folds and score.

Importing scikit-learn costs about a second (it loads scipy.stats), as much as a whole linear refit on cached
features. `LinearHead` needs little of it, so this module re-implements exactly that, to scikit-learn's
definitions (tests compare the two):

* `LogisticModel` — `LogisticRegression(class_weight="balanced")` with lbfgs: minimises
  (1/S) sum_i s_i loss_i + ||W||^2 / (2 C S) (S = sum of sample weights; intercepts not penalised) with
  scipy's L-BFGS-B and scikit-learn's stopping rule (gtol = tol, ftol = 64 eps, maxls 50), binomial for two
  classes and multinomial above; `warm_start` starts from the previous solution;
* `StratifiedFolds` — `StratifiedKFold(shuffle=True, random_state=seed)`: the same test folds;
* `standardise` — `StandardScaler`: population standard deviation, near-zero scales set to 1;
* `log_loss` — mean negative log-probability of the true class, probabilities clipped to [eps, 1 - eps].
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Self

import numpy as np
from scipy.special import expit, log_expit, logsumexp, softmax


def standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(standardised X in its dtype, mean, scale) as `StandardScaler().fit(X)` computes them."""
    X64 = np.asarray(X, dtype=np.float64)
    mean = X64.mean(axis=0)
    scale = X64.std(axis=0)
    scale[scale < 10 * np.finfo(np.float64).eps] = 1.0
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    return ((X64 - mean) / scale).astype(dtype), mean, scale


def log_loss(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Mean negative log-likelihood of `y` under `proba` (columns in `classes` order), as scikit-learn's."""
    eps = np.finfo(proba.dtype).eps
    picked = proba[np.arange(len(y)), np.searchsorted(classes, y)]
    return float(-np.mean(np.log(np.clip(picked, eps, 1 - eps))))


class StratifiedFolds:
    """`StratifiedKFold(n_splits, shuffle=True, random_state=seed)`: every class spread evenly over the folds."""

    def __init__(self, n_splits: int, seed: int) -> None:
        self.n_splits = n_splits
        self.seed = seed

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def test_folds(self, y: np.ndarray) -> np.ndarray:
        """The fold each item is held out in (scikit-learn's allocation and shuffling, same random stream)."""
        rng = np.random.RandomState(self.seed)
        _, first, inverse = np.unique(np.asarray(y), return_index=True, return_inverse=True)
        _, order = np.unique(first, return_inverse=True)
        encoded = order[inverse.reshape(-1)]  # classes numbered by first appearance
        n_classes = len(first)
        ordered = np.sort(encoded)
        allocation = np.asarray(
            [np.bincount(ordered[i :: self.n_splits], minlength=n_classes) for i in range(self.n_splits)]
        )
        folds = np.empty(len(encoded), dtype="i")
        for k in range(n_classes):
            of_class = np.arange(self.n_splits).repeat(allocation[:, k])
            rng.shuffle(of_class)
            folds[encoded == k] = of_class
        return folds

    def split(self, X: Any, y: np.ndarray, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        folds = self.test_folds(y)
        indices = np.arange(len(folds))
        for i in range(self.n_splits):
            yield indices[folds != i], indices[folds == i]


class LogisticModel:
    """The part of `LogisticRegression(class_weight="balanced", solver="lbfgs")` the linear head uses."""

    def __init__(
        self, C: float = 1.0, max_iter: int = 2000, tol: float = 1e-4, warm_start: bool = False, **_: Any
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start

    def set_params(self, **params: Any) -> Self:
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def fit(self, X: np.ndarray, y: np.ndarray) -> Self:
        from scipy.optimize import minimize

        self.classes_, target = np.unique(np.asarray(y), return_inverse=True)
        target = target.reshape(-1)
        n_classes = len(self.classes_)
        counts = np.bincount(target, minlength=n_classes)
        weights = (len(target) / (n_classes * counts))[target].astype(X.dtype)  # class_weight="balanced"
        rows = 1 if n_classes == 2 else n_classes
        shape = (rows, X.shape[1] + 1)  # coefficients, then the intercept
        previous = getattr(self, "_w", None)
        w0 = previous if self.warm_start and previous is not None and previous.shape == shape else np.zeros(shape)
        loss = _binomial if n_classes == 2 else _multinomial
        strength = 1.0 / (self.C * float(weights.sum()))
        result = minimize(
            loss,
            w0.ravel(),
            args=(X, target, weights, strength, shape),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter, "maxls": 50, "gtol": self.tol, "ftol": 64 * np.finfo(float).eps},
        )
        self._w = result.x.reshape(shape)
        self.n_iter_ = np.array([result.nit])
        self.coef_ = self._w[:, :-1].copy()
        self.intercept_ = self._w[:, -1].copy()
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        scores = self.decision_function(X)
        if scores.ndim == 1:
            positive = expit(scores)
            return np.stack([1 - positive, positive], axis=1)
        return softmax(scores, axis=1)


def _split(w: np.ndarray, X: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    W = w.reshape(shape)
    return W[:, :-1].astype(X.dtype), W[:, -1].astype(X.dtype)


def _binomial(
    w: np.ndarray, X: np.ndarray, y: np.ndarray, s: np.ndarray, strength: float, shape: tuple[int, int]
) -> tuple[float, np.ndarray]:
    """scikit-learn's HalfBinomialLoss objective and gradient (positive class: the second)."""
    coef, intercept = _split(w, X, shape)
    z = X @ coef[0] + intercept[0]
    total = float(s.sum())
    loss = float(np.dot(s, -log_expit(z) + (1 - y) * z)) / total + 0.5 * strength * float(np.dot(coef[0], coef[0]))
    residual = s * (expit(z) - y) / total
    grad = np.empty(shape)
    grad[0, :-1] = X.T @ residual + strength * coef[0]
    grad[0, -1] = residual.sum()
    return loss, grad.ravel()


def _multinomial(
    w: np.ndarray, X: np.ndarray, y: np.ndarray, s: np.ndarray, strength: float, shape: tuple[int, int]
) -> tuple[float, np.ndarray]:
    """scikit-learn's HalfMultinomialLoss objective and gradient (one coefficient row per class)."""
    coef, intercept = _split(w, X, shape)
    z = X @ coef.T + intercept
    total = float(s.sum())
    norm = logsumexp(z, axis=1)
    loss = float(np.dot(s, norm - z[np.arange(len(y)), y])) / total + 0.5 * strength * float((coef * coef).sum())
    residual = np.exp(z - norm[:, None])
    residual[np.arange(len(y)), y] -= 1
    residual *= (s / total)[:, None]
    grad = np.empty(shape)
    grad[:, :-1] = residual.T @ X + strength * coef
    grad[:, -1] = residual.sum(axis=0)
    return loss, grad.ravel()
