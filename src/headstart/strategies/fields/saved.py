"""Fitted scikit-learn pieces as arrays and JSON, and back (nothing pickled): a logistic regression's weights and
a TF-IDF vectoriser's vocabulary and idf."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression


@dataclass(frozen=True)
class LinearScorer:
    """A fitted logistic regression as its weights: `predict_proba` equals scikit-learn's (softmax over classes,
    or the sigmoid of the one decision column for two classes)."""

    coef: np.ndarray  # (k, d), k = 1 for two classes
    intercept: np.ndarray  # (k,)
    classes: tuple[str, ...]

    @classmethod
    def from_sklearn(cls, model: LogisticRegression) -> LinearScorer:
        return cls(  # kept at float32 precision, as saved: a loaded scorer scores exactly as the fitted one
            np.asarray(model.coef_, dtype=np.float32).astype(np.float64),
            np.asarray(model.intercept_, dtype=np.float32).astype(np.float64),
            tuple(str(c) for c in model.classes_),
        )

    def predict_proba(self, x: np.ndarray | sparse.spmatrix) -> np.ndarray:
        scores = np.asarray(x @ self.coef.T) + self.intercept
        if len(self.classes) == 2:
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def to_state(self, prefix: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        tensors = {
            f"{prefix}.coef": self.coef.astype(np.float32),
            f"{prefix}.intercept": self.intercept.astype(np.float32),
        }
        return tensors, {"classes": list(self.classes)}

    @classmethod
    def from_state(cls, tensors: Mapping[str, np.ndarray], prefix: str, config: Mapping[str, Any]) -> LinearScorer:
        return cls(
            np.asarray(tensors[f"{prefix}.coef"], dtype=np.float64),
            np.asarray(tensors[f"{prefix}.intercept"], dtype=np.float64),
            tuple(str(c) for c in config["classes"]),
        )


TFIDF_SETTINGS: dict[str, Any] = {
    "analyzer": "char_wb",
    "ngram_range": (2, 4),
    "min_df": 2,
    "max_features": 3000,
    "sublinear_tf": True,
    "lowercase": True,
    "dtype": np.float32,
}


def new_tfidf() -> TfidfVectorizer:
    return TfidfVectorizer(**TFIDF_SETTINGS)


def tfidf_state(vectorizer: TfidfVectorizer, prefix: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The vocabulary (JSON: n-gram -> column) and the idf weights (a tensor)."""
    vocabulary = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
    return {f"{prefix}.idf": np.asarray(vectorizer.idf_, dtype=np.float32)}, {"vocabulary": vocabulary}


def tfidf_from_state(tensors: Mapping[str, np.ndarray], prefix: str, config: Mapping[str, Any]) -> TfidfVectorizer:
    vectorizer = new_tfidf()
    vectorizer.vocabulary_ = {str(k): int(v) for k, v in config["vocabulary"].items()}
    vectorizer.idf_ = np.asarray(tensors[f"{prefix}.idf"], dtype=np.float64)
    return vectorizer
