"""The line tagger: a logistic regression over each line's features (layout, flags, neighbours, text) that says
which field, if any, the line holds; fitted on weak labels, and cross-fitted so the decoders learn from
probabilities of documents it did not see."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from headstart.strategies.fields.saved import LinearScorer

Matrix: TypeAlias = np.ndarray | sparse.csr_matrix


def fit_scorer(x: Matrix, y: np.ndarray, c: float) -> LinearScorer:
    """A multinomial logistic regression over line classes, classes weighted to balance the rare field lines."""
    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
    with threadpool_limits(limits=1, user_api="blas"):  # small problems: threads only contend (10x slower loaded)
        model.fit(x, y.astype(str))
    return LinearScorer.from_sklearn(model)


def class_probabilities(scorer: LinearScorer, x: Matrix, n_classes: int) -> np.ndarray:
    """(rows, n_classes) probabilities; a class the tagger never saw gets 0."""
    out = np.zeros((x.shape[0], n_classes), dtype=np.float64)
    if x.shape[0] == 0:
        return out
    if len(scorer.classes) == 1:
        out[:, int(scorer.classes[0])] = 1.0
        return out
    proba = scorer.predict_proba(x)
    for column, name in enumerate(scorer.classes):
        out[:, int(name)] = proba[:, column]
    return out


def cross_fitted(
    x: Matrix, y: np.ndarray, document_of: np.ndarray, n_classes: int, c: float, folds: int
) -> np.ndarray:
    """Each row's class probabilities from a tagger fitted without its document (in-sample when there are fewer
    than two documents, or a fold lacks a second class)."""
    documents = np.unique(document_of)
    out = np.zeros((x.shape[0], n_classes), dtype=np.float64)
    if len(documents) < 2:
        return class_probabilities(fit_scorer(x, y, c), x, n_classes) if len(np.unique(y)) > 1 else out
    fold_of = {d: i % min(folds, len(documents)) for i, d in enumerate(documents)}
    fold = np.array([fold_of[d] for d in document_of])
    for k in np.unique(fold):
        train, held = fold != k, fold == k
        if len(np.unique(y[train])) < 2:
            continue
        out[held] = class_probabilities(fit_scorer(x[train], y[train], c), x[held], n_classes)
    return out


def split_rows(matrix: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """Rows of all documents -> one block per document."""
    bounds = np.cumsum([0, *sizes])
    return [matrix[bounds[i] : bounds[i + 1]] for i in range(len(sizes))]
