"""How a line's words enter the tagger: TF-IDF character n-grams learned from the training lines (the no-transfer
baseline) or a frozen pretrained encoder's embedding of the line (the transfer strategy, through `LineEmbedder`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from headstart.errors import UsageError
from headstart.strategies.fields.extractor import LineEmbedder
from headstart.strategies.fields.saved import new_tfidf, tfidf_from_state, tfidf_state

_DIGIT = re.compile(r"\d")


def tfidf_text(text: str) -> str:
    """What the n-grams see: digits as 0, so "25/12/2018" and "01/03/2019" share their n-grams."""
    return _DIGIT.sub("0", text)


class TfidfLines:
    """Character 2-4-grams (within words) of each line, weighted by TF-IDF fitted on the training lines."""

    def __init__(self, vectorizer: TfidfVectorizer | None = None) -> None:
        self.vectorizer = vectorizer

    def fit(self, texts: Sequence[str]) -> None:
        self.vectorizer = new_tfidf()
        try:
            self.vectorizer.fit([tfidf_text(t) for t in texts])
        except ValueError:  # too few lines for min_df: keep every n-gram
            self.vectorizer = new_tfidf().set_params(min_df=1)
            self.vectorizer.fit([tfidf_text(t) for t in texts] or [" "])
        self.vectorizer.idf_ = self.vectorizer.idf_.astype(np.float32).astype(np.float64)  # as saved

    def transform(self, texts: Sequence[str], embed: LineEmbedder | None) -> sparse.csr_matrix:
        if self.vectorizer is None:
            raise RuntimeError("TfidfLines.transform before fit")
        return sparse.csr_matrix(self.vectorizer.transform([tfidf_text(t) for t in texts]), dtype=np.float32)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if self.vectorizer is None:
            raise RuntimeError("TfidfLines.state before fit")
        return tfidf_state(self.vectorizer, "tfidf")

    @classmethod
    def from_state(cls, tensors: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> TfidfLines:
        return cls(tfidf_from_state(tensors, "tfidf", config))


class EmbeddedLines:
    """Each line's embedding by the strategy's frozen text encoder (nothing fitted here; `dim` is checked)."""

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim

    def fit(self, texts: Sequence[str]) -> None:
        self.dim = None

    def transform(self, texts: Sequence[str], embed: LineEmbedder | None) -> np.ndarray:
        if embed is None:
            raise UsageError(
                "this field extractor reads lines through a text encoder, and none was given",
                expected="a LineEmbedder (headstart.strategies.fields.embedding.line_embedder)",
                fix="pass embed=line_embedder(<the backbone the extractor was fitted with>)",
            )
        rows = np.asarray(embed(list(texts)), dtype=np.float32) if texts else np.zeros((0, self.dim or 0), np.float32)
        if rows.ndim != 2 or rows.shape[0] != len(texts):
            raise UsageError(f"the line embedder returned shape {rows.shape} for {len(texts)} lines")
        if texts and self.dim is not None and rows.shape[1] != self.dim:
            raise UsageError(
                f"the line embedder gives {rows.shape[1]}-d rows but the extractor was fitted on {self.dim}-d rows",
                fix="embed with the backbone the extractor was fitted with",
            )
        if texts:
            self.dim = rows.shape[1]
        return rows

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {}, {"dim": self.dim}

    @classmethod
    def from_state(cls, tensors: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> EmbeddedLines:
        dim = config.get("dim")
        return cls(None if dim is None else int(dim))


LineText = TfidfLines | EmbeddedLines
