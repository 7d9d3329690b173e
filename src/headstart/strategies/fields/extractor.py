"""The contract of a field extractor: fitted on documents' OCR lines and their fields, it finds each field's
value in new documents, with a confidence and where it was (lines, page, box).

Extractors are plain numpy / scikit-learn objects: the strategies in this package build them, hand them a
`LineEmbedder` when they use a pretrained text encoder (the cached frozen features of the strategy's backbone),
and keep their `state()` in the bundle (tensors in safetensors, the rest as JSON: nothing pickled).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from headstart.data.documents import OcrLine

LineEmbedder = Callable[[Sequence[str]], np.ndarray]  # line texts -> (n, d) float32 rows, in order
Box = tuple[float, float, float, float]  # left, top, right, bottom in page pixels


@dataclass(frozen=True)
class FoundField:
    """One field's value in one document: the text (a span of a line, a line, or lines joined in reading order),
    the extractor's confidence in [0, 1], the indices of the lines it came from, their page and their box."""

    value: str
    confidence: float
    lines: tuple[int, ...]
    page: int = 0
    box: Box | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "confidence": round(float(self.confidence), 4),
            "lines": list(self.lines),
            "page": self.page,
            "box": None if self.box is None else [round(float(v), 1) for v in self.box],
        }


DocumentFields = dict[str, FoundField]  # field name -> its value; a field not found is absent


def union_box(lines: Sequence[OcrLine], indices: Sequence[int]) -> Box | None:
    """The box around the given lines (None for none)."""
    if not indices:
        return None
    chosen = [lines[i] for i in indices]
    return (
        min(line.left for line in chosen),
        min(line.top for line in chosen),
        max(line.right for line in chosen),
        max(line.bottom for line in chosen),
    )


class FieldExtractor(ABC):
    """Learns where each field is from documents' lines and their true values; finds them in new documents."""

    kind: ClassVar[str]  # "rules", "linear", "tfidf"...: recorded in the manifest
    uses_embeddings: ClassVar[bool] = False  # whether fit/extract need a LineEmbedder
    names: list[str]  # the fields it extracts, set by `fit` (or `from_state`)

    @abstractmethod
    def fit(
        self,
        documents: Sequence[Sequence[OcrLine]],
        fields: Sequence[Mapping[str, str]],
        embed: LineEmbedder | None = None,
    ) -> list[str]:
        """Learn from documents (their lines, in reading order) and their fields; returns notes for the user
        (e.g. "address: value found in 61 of 70 training documents")."""

    @abstractmethod
    def extract(
        self, documents: Sequence[Sequence[OcrLine]], embed: LineEmbedder | None = None
    ) -> list[DocumentFields]:
        """Each document's fields (one value per field name at most)."""

    @property
    def field_names(self) -> list[str]:
        """The fields it extracts, in the order the training data named them."""
        return list(self.names)

    @abstractmethod
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """What a bundle keeps: arrays (saved as safetensors) and JSON-able settings (vocabularies, names...)."""

    @classmethod
    @abstractmethod
    def from_state(cls, tensors: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> Self:
        """The extractor `state()` described."""
