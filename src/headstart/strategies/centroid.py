"""Nearest class centroid by cosine similarity: what `linear` fits on metric embeddings with very few items.

A speaker encoder (GE2E) is trained so that recordings of one voice lie close in cosine: with 1-3 clips per
speaker the mean of a class's embeddings is a better classifier than a standardised logistic regression fitted
on so few rows (issue #21's reference: 0.729 against 0.514 at one clip per speaker). The embeddings are first
centred on the mean of the class means (the direction every recording shares says nothing about who speaks): on
200 paired draws of FSDD speakers this adds 0.032 accuracy at one clip per speaker and 0.012 at three (GE2E
d-vectors), 0.040 and 0.015 on the voice-encoder's default pooling. The head is linear (the centred row against
unit-length centroids of the centred, unit-length rows, divided by a temperature; the row's own length is the same
for every class, so leaving it out changes no decision), so it is stored, loaded and exported as a `LinearHead`
(same arrays: mean_ = the centre, scale_ = 1, coef_, intercept_, temperature_; `LinearHead.from_state` reloads it).

The temperature only spreads the logits into probabilities (it changes no decision): it is chosen without any test
data, by leave-one-out over the training rows (`leave_one_out_temperature`), or, with one row per class, a constant
tuned on FSDD's non-test recordings. Scored on FSDD's official test split (bench/centroid_temperature.py, 40 draws,
k non-test clips per speaker), the earlier constant 0.08 (tuned on that test split) gave an expected calibration
error of 0.079 / 0.047 at k = 1 / 3; this rule gives 0.071 / 0.048 (log loss 0.610 -> 0.587 / 0.179 -> 0.191),
at the same accuracy (0.787 / 0.942); leave-one-out chose 0.069 on average at k = 3.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from scipy.special import logsumexp, softmax

from headstart.backbones.base import Backbone

# Cosine similarities to the centroids differ by a few hundredths to a few tenths: dividing by a temperature (a
# constant times the centred training rows' median length) spreads them to probabilities. The constant is chosen at
# fit time from GRID by leave-one-out over the training rows (each row whose class keeps another row is scored by
# centroids fitted without it; the constant of least mean log loss wins; at most LOO_ROWS rows, evenly spaced).
# With one row in every class nothing can be held out: SINGLE_CLIP_TEMPERATURE, tuned on FSDD speaker ID's
# non-test recordings only (index >= 5: one clip per speaker fitted, the other non-test clips scored, 40 draws,
# bench/centroid_temperature.py; log loss 0.585 at 0.1, 0.609 at 0.08, 0.589 at 0.12).
GRID = (0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3)
SINGLE_CLIP_TEMPERATURE = 0.1
LOO_ROWS = 300


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


def _unit(X: np.ndarray) -> np.ndarray:
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def _centroids(unit: np.ndarray, y: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The centre (mean of the class means), the unit centroids of the centred unit rows, and the centred rows'
    median length (1 when they all coincide)."""
    centre = np.stack([unit[y == c].mean(axis=0) for c in classes]).mean(axis=0)
    centred = unit - centre
    means = np.stack([_unit(centred[y == c]).mean(axis=0) for c in classes])
    length = float(np.median(np.linalg.norm(centred, axis=1)))
    return centre, _unit(means), length if length > 1e-6 else 1.0


def leave_one_out_temperature(unit: np.ndarray, y: np.ndarray, classes: np.ndarray) -> float | None:
    """The GRID constant of least mean log loss on training rows held out one at a time (None: no row can be held
    out, every class has one)."""
    counts = dict(zip(*np.unique(y, return_counts=True), strict=True))
    rows = np.flatnonzero([counts[label] > 1 for label in y])
    if len(rows) == 0:
        return None
    rows = rows[np.unique(np.linspace(0, len(rows) - 1, min(len(rows), LOO_ROWS)).round().astype(int))]
    grid = np.asarray(GRID)
    losses = np.zeros(len(grid))
    for i in rows:
        rest = np.arange(len(y)) != i
        centre, coef, length = _centroids(unit[rest], y[rest], classes)
        logits = (unit[i] - centre) @ coef.T / length  # (classes,)
        scaled = logits[None, :] / grid[:, None]  # (grid, classes)
        truth = int(np.searchsorted(classes, y[i]))
        losses += logsumexp(scaled, axis=1) - scaled[:, truth]
    return float(grid[int(np.argmin(losses))])


class CentroidHead:
    """Cosine similarity of the centred embedding to each class's unit-length centred mean, softmax at a temperature
    (a constant, by default chosen by leave-one-out over the training rows, times the training rows' median length
    after centring, so logits keep the scale of cosines)."""

    kind = "centroid"
    standardise = True  # with mean 0 and scale 1: the arrays of a standardised `LinearHead`

    def __init__(self, temperature: float | None = None) -> None:
        self.temperature = temperature

    def fit(self, X: Any, y: np.ndarray | list[str]) -> Self:
        y = np.asarray(y)
        X = np.asarray(X, dtype=np.float32)
        self.classes_ = np.array(sorted(set(y.tolist())))
        unit = _unit(X)
        centre, coef, length = _centroids(unit, y, self.classes_)
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = np.zeros(len(self.classes_), dtype=np.float32)
        self.mean_ = centre.astype(np.float32)
        self.scale_ = np.ones(X.shape[1], dtype=np.float32)
        if self.temperature is not None:
            self.constant_, self.rule_ = self.temperature, "given"
        else:
            chosen = leave_one_out_temperature(unit, y, self.classes_)
            self.constant_ = SINGLE_CLIP_TEMPERATURE if chosen is None else chosen
            self.rule_ = (
                "one training row per class: the constant tuned on FSDD speakers' non-test clips"
                if chosen is None
                else "leave-one-out log loss over the training rows"
            )
        self.temperature_ = self.constant_ * length
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The centred (unit-length) rows against each class centroid, shape (N, n_classes): a cosine similarity
        times the centred row's length, the same for every class."""
        return (np.asarray(X, dtype=np.float32) - self.mean_) @ self.coef_.T + self.intercept_

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
            "temperature_constant": self.constant_,
            "temperature_rule": f"{self.constant_} x the centred training rows' median length ({self.rule_})",
            "centred": "on the mean of the class means (mean_)",
            "probabilities": "softmax of (row - mean_) . unit class centroid / temperature",
        }
