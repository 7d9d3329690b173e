"""Generated receipts whose fields are whole OCR lines, and two small field extractors that honour the contract of
`strategies/fields/extractor.py` (one by line position, one by line embedding): the wiring's tests run fit,
evaluate, predict and study through them, whatever the shipped extractors learn."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import numpy as np
from PIL import Image

from headstart.data.documents import OcrLine
from headstart.strategies.fields import strategy as fields_strategy
from headstart.strategies.fields.extractor import DocumentFields, FieldExtractor, FoundField, LineEmbedder, union_box
from headstart.tasks.field_scores import normalise

COMPANIES = ["ACME TRADING", "KEDAI MURNI", "SYARIKAT MAJU", "TOKO BARU", "PASAR JAYA", "GERAI INDAH"]
STREETS = ["JALAN MAJU", "LORONG DUA", "TAMAN SERI", "JALAN BESAR"]
FIELDS = ("company", "address", "date", "total")


def receipt(n: int) -> tuple[list[str], dict[str, str]]:
    """Receipt `n`: its lines (company, address, date, total, then a footer) and its fields."""
    fields = {
        "company": f"{COMPANIES[n % len(COMPANIES)]} {n}",
        "address": f"NO {n + 1}, {STREETS[n % len(STREETS)]}",
        "date": f"{1 + n % 28:02d}/{1 + n % 12:02d}/2019",
        "total": f"{10 + n}.{n % 100:02d}",
    }
    return [*fields.values(), "THANK YOU"], fields


def write_receipts(root: Path, n: int = 12, *, start: int = 0, size: tuple[int, int] = (64, 48)) -> Path:
    """A SROIE-like folder of `n` receipts: img/<stem>.png (nearly blank pages), key/<stem>.json, box/<stem>.csv."""
    for sub in ("img", "key", "box"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for k in range(start, start + n):
        lines, fields = receipt(k)
        stem = f"r{k:03d}"
        page = Image.new("RGB", size, "white")
        page.putpixel((k % size[0], k // size[0] % size[1]), (0, 0, 0))  # no two pages are copies of each other
        page.save(root / "img" / f"{stem}.png")
        (root / "key" / f"{stem}.json").write_text(json.dumps(fields))
        rows = [f"10,{10 + 20 * i},200,{10 + 20 * i},200,{26 + 20 * i},10,{26 + 20 * i},{t}" for i, t in enumerate(lines)]
        (root / "box" / f"{stem}.csv").write_text("\n".join(rows) + "\n")
    return root


def _find(lines: Sequence[OcrLine], value: str) -> int | None:
    wanted = normalise(value)
    return next((i for i, line in enumerate(lines) if normalise(line.text) == wanted), None)


class PositionExtractor(FieldExtractor):
    """Each field is the line at the index where training documents most often had it."""

    kind = "rules"

    def __init__(self) -> None:
        self.names_: list[str] = []
        self.index_ = np.zeros(0, dtype=np.int64)
        self.confidence_ = np.zeros(0, dtype=np.float32)

    def fit(
        self,
        documents: Sequence[Sequence[OcrLine]],
        fields: Sequence[Mapping[str, str]],
        embed: LineEmbedder | None = None,
    ) -> list[str]:
        self.names_ = list(dict.fromkeys(name for row in fields for name in row))
        index, confidence, notes = [], [], []
        for name in self.names_:
            found = [_find(lines, row[name]) for lines, row in zip(documents, fields, strict=True) if row.get(name)]
            seen = Counter(i for i in found if i is not None)
            best, count = seen.most_common(1)[0] if seen else (-1, 0)
            index.append(best)
            confidence.append(count / max(len(found), 1))
            notes.append(f"{name}: value found in {sum(seen.values())} of {len(documents)} training documents")
        self.index_ = np.array(index, dtype=np.int64)
        self.confidence_ = np.array(confidence, dtype=np.float32)
        return notes

    def extract(self, documents: Sequence[Sequence[OcrLine]], embed: LineEmbedder | None = None) -> list[DocumentFields]:
        out = []
        for lines in documents:
            row = {}
            for name, i, c in zip(self.names_, self.index_.tolist(), self.confidence_.tolist(), strict=True):
                if 0 <= i < len(lines):
                    row[name] = FoundField(lines[i].text, c, (i,), lines[i].page, union_box(lines, [i]))
            out.append(row)
        return out

    @property
    def field_names(self) -> list[str]:
        return list(self.names_)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"index": self.index_, "confidence": self.confidence_}, {"fields": self.names_}

    @classmethod
    def from_state(cls, tensors: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> Self:
        extractor = cls()
        extractor.names_ = list(config["fields"])
        extractor.index_, extractor.confidence_ = np.asarray(tensors["index"]), np.asarray(tensors["confidence"])
        return extractor


class TfidfLikeExtractor(PositionExtractor):
    """The position extractor as kind "tfidf", taking the taggers' `c` (kept in its settings) as they do."""

    kind = "tfidf"

    def __init__(self, *, c: float = 1.0) -> None:
        super().__init__()
        self.c = c

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, config = super().state()
        return arrays, {**config, "c": self.c}


class NearestEmbeddingExtractor(FieldExtractor):
    """Each field is the line whose embedding is nearest (cosine) the mean embedding of its training lines."""

    kind = "linear"
    uses_embeddings = True

    def __init__(self) -> None:
        self.names_: list[str] = []
        self.centres_ = np.zeros((0, 0), dtype=np.float32)

    def fit(
        self,
        documents: Sequence[Sequence[OcrLine]],
        fields: Sequence[Mapping[str, str]],
        embed: LineEmbedder | None = None,
    ) -> list[str]:
        assert embed is not None, "the strategy must hand an embedder to an extractor that uses embeddings"
        self.names_ = list(dict.fromkeys(name for row in fields for name in row))
        texts = {name: [] for name in self.names_}
        for lines, row in zip(documents, fields, strict=True):
            for name in self.names_:
                i = _find(lines, row.get(name, ""))
                if i is not None:
                    texts[name].append(lines[i].text)
        self.centres_ = np.stack([_unit(embed(texts[name] or [name]).mean(axis=0)) for name in self.names_])
        return [f"{name}: {len(texts[name])} training lines" for name in self.names_]

    def extract(self, documents: Sequence[Sequence[OcrLine]], embed: LineEmbedder | None = None) -> list[DocumentFields]:
        assert embed is not None, "the strategy must hand an embedder to an extractor that uses embeddings"
        out = []
        for lines in documents:
            if not lines:
                out.append({})
                continue
            rows = np.stack([_unit(r) for r in embed([line.text for line in lines])])
            similarity = rows @ self.centres_.T
            found = {}
            for j, name in enumerate(self.names_):
                i = int(similarity[:, j].argmax())
                found[name] = FoundField(lines[i].text, float((similarity[i, j] + 1) / 2), (i,), lines[i].page,
                                         union_box(lines, [i]))  # fmt: skip
            out.append(found)
        return out

    @property
    def field_names(self) -> list[str]:
        return list(self.names_)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"centres": self.centres_}, {"fields": self.names_}

    @classmethod
    def from_state(cls, tensors: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> Self:
        extractor = cls()
        extractor.names_ = list(config["fields"])
        extractor.centres_ = np.asarray(tensors["centres"])
        return extractor


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-9)).astype(np.float32)


@contextmanager
def fields_extractors() -> Iterator[None]:
    """The three extractor kinds served by the classes above, for the duration of the block."""
    saved = dict(fields_strategy._EXTRACTOR_CLASSES)
    for cls in (PositionExtractor, TfidfLikeExtractor, NearestEmbeddingExtractor):
        fields_strategy.register_extractor(cls.kind, cls)
    try:
        yield
    finally:
        fields_strategy._EXTRACTOR_CLASSES.clear()
        fields_strategy._EXTRACTOR_CLASSES.update(saved)
