"""Field extractors that tag lines and decode spans: `TfidfExtractor` (kind "tfidf", character n-grams: the
no-transfer baseline) and `LinearExtractor` (kind "linear", a frozen pretrained encoder's line embeddings)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np

from headstart.data.documents import OcrLine
from headstart.errors import DataError
from headstart.strategies.fields.candidates import TEXT, value_kind
from headstart.strategies.fields.extractor import DocumentFields, FieldExtractor, LineEmbedder
from headstart.strategies.fields.line_features import describe, line_matrix
from headstart.strategies.fields.line_text import EmbeddedLines, LineText, TfidfLines
from headstart.strategies.fields.saved import LinearScorer
from headstart.strategies.fields.tagger import class_probabilities, cross_fitted, fit_scorer, split_rows
from headstart.strategies.fields.text_decode import TextDecoder
from headstart.strategies.fields.typed_decode import TypedDecoder
from headstart.strategies.fields.weak_labels import line_labels

FORMAT = 1
Decoder = TypedDecoder | TextDecoder


def ordered_names(fields: Sequence[Mapping[str, str]]) -> list[str]:
    """Every field name with a value in some document, in first-seen order."""
    names: dict[str, None] = {}
    for row in fields:
        names.update((name, None) for name, value in row.items() if str(value).strip())
    return list(names)


class TaggedExtractor(FieldExtractor):
    """Line tagger + per-field decoders; subclasses choose the text representation."""

    def __init__(self, *, c: float = 1.0, folds: int = 3) -> None:
        self.c = c
        self.folds = folds
        self.names: list[str] = []
        self.kinds: list[str] = []
        self.text: LineText = self._new_text()
        self.scorer: LinearScorer | None = None
        self.decoders: list[Decoder] = []

    def _new_text(self) -> LineText:
        raise NotImplementedError

    def fit(
        self,
        documents: Sequence[Sequence[OcrLine]],
        fields: Sequence[Mapping[str, str]],
        embed: LineEmbedder | None = None,
    ) -> list[str]:
        if len(documents) != len(fields):
            raise ValueError(f"{len(documents)} documents but {len(fields)} field rows")
        self.names = ordered_names(fields)
        if not self.names:
            raise DataError("no field has a value in the training documents", fix="give each document its fields")
        self.kinds = [value_kind([row.get(n, "") for row in fields]) for n in self.names]
        described = [describe(lines) for lines in documents]
        labelled = [line_labels(d.lines, row, self.names, self.kinds) for d, row in zip(described, fields, strict=True)]
        y = np.concatenate([labels for labels, _ in labelled]) if labelled else np.zeros(0, dtype=np.int64)
        if len(np.unique(y)) < 2:
            raise DataError(
                "no field value was found in the training documents' lines",
                expected="field values that appear in the OCR text",
                fix="check the fields against the documents (`headstart inspect` shows per-field coverage)",
            )
        self.text = self._new_text()
        self.text.fit([line.text for d in described for line in d.lines])
        x = line_matrix(described, self.text, embed)
        n_classes = len(self.names) + 1
        self.scorer = fit_scorer(x, y, self.c)
        document_of = np.concatenate([np.full(len(d.lines), i) for i, d in enumerate(described)])
        sizes = [len(d.lines) for d in described]
        held_out = split_rows(cross_fitted(x, y, document_of, n_classes, self.c, self.folds), sizes)
        self.decoders = []
        notes = []
        for number, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            values = [row.get(name, "") for row in fields]
            probs = [p[:, number + 1] for p in held_out]
            decoder: Decoder
            if kind == TEXT:
                decoder = TextDecoder(kind)
                where = [
                    [i for i, label in enumerate(labels) if label == number + 1] for labels, _ in labelled
                ]
                decoder.fit(described, probs, values, where)
            else:
                decoder = TypedDecoder(kind)
                decoder.fit(described, probs, values)
            self.decoders.append(decoder)
            given = sum(bool(v.strip()) for v in values)
            findable = sum(found[number] for _, found in labelled)
            notes.append(f"{name} ({kind}): value found in the lines of {findable} of {given} training documents")
        return notes

    def line_probabilities(
        self, documents: Sequence[Sequence[OcrLine]], embed: LineEmbedder | None = None
    ) -> list[np.ndarray]:
        """Per document, (lines, 1 + fields) probabilities: no field, then each field in `field_names` order."""
        if self.scorer is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")
        described = [describe(lines) for lines in documents]
        x = line_matrix(described, self.text, embed)
        probs = class_probabilities(self.scorer, x, len(self.names) + 1)
        return split_rows(probs, [len(d.lines) for d in described])

    def extract(
        self, documents: Sequence[Sequence[OcrLine]], embed: LineEmbedder | None = None
    ) -> list[DocumentFields]:
        if self.scorer is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")
        described = [describe(lines) for lines in documents]
        if not any(d.lines for d in described):
            return [{} for _ in described]
        x = line_matrix(described, self.text, embed)
        probs = split_rows(class_probabilities(self.scorer, x, len(self.names) + 1), [len(d.lines) for d in described])
        out: list[DocumentFields] = []
        for doc, p in zip(described, probs, strict=True):
            found: DocumentFields = {}
            taken: set[int] = set()
            if doc.lines:
                order = sorted(range(len(self.names)), key=lambda k: -float(p[:, k + 1].max()))
                for k in order:
                    decoder = self.decoders[k]
                    result = (
                        decoder.decode(doc, p[:, k + 1], taken)
                        if isinstance(decoder, TextDecoder)
                        else decoder.decode(doc, p[:, k + 1])
                    )
                    if result is not None and result.value.strip():
                        found[self.names[k]] = result
                        if isinstance(decoder, TextDecoder):
                            taken.update(result.lines)
            out.append({name: found[name] for name in self.names if name in found})
        return out

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if self.scorer is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")
        tensors, scorer = self.scorer.to_state("tagger")
        text_tensors, text_config = self.text.state()
        tensors.update(text_tensors)
        decoders = []
        for number, decoder in enumerate(self.decoders):
            more, config = decoder.state(f"decoder.{number}")
            tensors.update(more)
            decoders.append(config)
        config = {
            "format": FORMAT,
            "kind": self.kind,
            "c": self.c,
            "folds": self.folds,
            "fields": self.names,
            "kinds": self.kinds,
            "tagger": scorer,
            "text": text_config,
            "decoders": decoders,
        }
        return tensors, config

    @classmethod
    def from_state(cls, tensors: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> Self:
        if config.get("kind") != cls.kind or config.get("format") != FORMAT:
            raise ValueError(
                f"state of a {config.get('kind')!r} extractor (format {config.get('format')}) given to "
                f"{cls.__name__} (kind {cls.kind!r}, format {FORMAT})"
            )
        extractor = cls(c=float(config["c"]), folds=int(config["folds"]))
        extractor.names = [str(n) for n in config["fields"]]
        extractor.kinds = [str(k) for k in config["kinds"]]
        extractor.scorer = LinearScorer.from_state(tensors, "tagger", config["tagger"])
        extractor.text = extractor._text_from_state(tensors, config["text"])
        extractor.decoders = []
        for number, decoder in enumerate(config["decoders"]):
            prefix = f"decoder.{number}"
            if decoder["kind"] == TEXT:
                extractor.decoders.append(TextDecoder.from_state(tensors, prefix, decoder))
            else:
                extractor.decoders.append(TypedDecoder.from_state(tensors, prefix, decoder))
        return extractor

    def _text_from_state(self, tensors: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> LineText:
        raise NotImplementedError


class TfidfExtractor(TaggedExtractor):
    """Lines read as TF-IDF character n-grams fitted on the training lines: no pretrained model."""

    kind: ClassVar[str] = "tfidf"

    def _new_text(self) -> LineText:
        return TfidfLines()

    def _text_from_state(self, tensors: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> LineText:
        return TfidfLines.from_state(tensors, config)


class LinearExtractor(TaggedExtractor):
    """Lines read by a frozen pretrained text encoder (its embeddings come through `embed`)."""

    kind: ClassVar[str] = "linear"
    uses_embeddings: ClassVar[bool] = True

    def _new_text(self) -> LineText:
        return EmbeddedLines()

    def _text_from_state(self, tensors: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> LineText:
        return EmbeddedLines.from_state(tensors, config)
