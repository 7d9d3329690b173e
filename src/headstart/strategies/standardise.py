"""Feature standardisation for the linear heads, with dead features kept quiet.

A pretrained encoder can have dimensions that are (numerically) dead: MiniLM-L6's pooled dimensions 127 and 223
are ~1e-33 for every text. scikit-learn's `StandardScaler` gives an exactly constant feature a spread of 1, but
not one that varies in its float noise; dividing by a spread of 1e-33 makes that noise the loudest feature of a
linear probe, and a fine-tuned network that starts from the probe (LP-FT) divides its stages' output by it: every
gradient through the stages becomes infinite and gradient clipping zeroes them, so only the head trained.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEAD_FEATURE_RATIO = 1e-6  # a spread below this fraction of the median feature's is float noise: treated as constant


def fit_standardiser(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and spread (float32); a column whose spread is below `DEAD_FEATURE_RATIO` of the median
    column's (or exactly 0) gets spread 1, so it stays at its float noise instead of being magnified."""
    x = np.asarray(X, dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    dead = scale <= DEAD_FEATURE_RATIO * float(np.median(scale)) if scale.size else np.zeros(0, dtype=bool)
    scale[dead | (scale == 0)] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def standardised(X: Any, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(X - mean) / scale in float32, as every head applies it at prediction."""
    return (np.asarray(X, dtype=np.float32) - mean) / scale
