"""A text field's value (a company, an address): the most probable line, grown in reading order over its
neighbours while their probability reaches a threshold chosen on the training documents, joined with the separator
the values use between lines, without the edge words they leave out (`trim`) and with the word corrections they
make (`corrections`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from headstart.data.field_align import MAX_SPAN_LINES
from headstart.strategies.fields.corrections import WordCorrections
from headstart.strategies.fields.extractor import FoundField, union_box
from headstart.strategies.fields.line_features import DocumentLayout
from headstart.strategies.fields.trim import EdgeTrimmer
from headstart.tasks.field_scores import normalise

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SEPARATORS = (" ", ", ", "\n", "")


class TextDecoder:
    """A field written as text: the most probable line and its neighbours in reading order above a threshold."""

    def __init__(
        self,
        kind: str,
        threshold: float = 0.5,
        separator: str = " ",
        trimmer: EdgeTrimmer | None = None,
        corrections: WordCorrections | None = None,
    ) -> None:
        self.kind = kind
        self.threshold = threshold
        self.separator = separator
        self.trimmer = trimmer or EdgeTrimmer()
        self.corrections = corrections or WordCorrections()

    def fit(
        self,
        documents: Sequence[DocumentLayout],
        probs: Sequence[np.ndarray],
        values: Sequence[str],
        found_lines: Sequence[Sequence[int]],
    ) -> None:
        """Choose the separator the values use between lines, the words they leave out of their lines, then the
        threshold that decodes most values."""
        texts = [
            (value, [doc.lines[i].text.strip() for i in where])
            for doc, value, where in zip(documents, values, found_lines, strict=True)
            if where
        ]
        joined = [(value, lines) for value, lines in texts if len(lines) > 1]
        if joined:
            self.separator = max(
                SEPARATORS, key=lambda s: sum(normalise(s.join(t)) == normalise(v) for v, t in joined)
            )
        self.trimmer = EdgeTrimmer()
        self.trimmer.fit((self.separator.join(lines), value) for value, lines in texts)
        self.corrections = WordCorrections()
        self.corrections.fit((self.trimmer(self.separator.join(lines)), value) for value, lines in texts)
        scored = [(doc, p, v) for doc, p, v in zip(documents, probs, values, strict=True) if v.strip()]

        def right(threshold: float) -> int:
            self.threshold = threshold
            total = 0
            for doc, p, value in scored:
                got = self.decode(doc, p)
                total += got is not None and normalise(got.value) == normalise(value)
            return total

        counts = {t: right(t) for t in THRESHOLDS}
        self.threshold = max(THRESHOLDS, key=lambda t: (counts[t], -abs(t - 0.5)))

    def decode(self, doc: DocumentLayout, p: np.ndarray, taken: set[int] | None = None) -> FoundField | None:
        free = [i for i in range(len(doc.lines)) if not taken or i not in taken]
        if not free:
            return None
        seed = max(free, key=lambda i: p[i])
        run = [seed]
        for step in (-1, 1):
            at = seed + step
            while 0 <= at < len(doc.lines) and len(run) < MAX_SPAN_LINES and p[at] >= self.threshold:
                if taken and at in taken:
                    break
                run.append(at)
                at += step
        run.sort()
        value = self.corrections(self.trimmer(self.separator.join(doc.lines[i].text.strip() for i in run)))
        page = doc.lines[seed].page
        return FoundField(value, float(np.mean([p[i] for i in run])), tuple(run), page, union_box(doc.lines, run))

    def state(self, prefix: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        config = {"kind": self.kind, "threshold": self.threshold, "separator": self.separator}
        return {}, {**config, "trim": self.trimmer.state(), "corrections": self.corrections.state()}

    @classmethod
    def from_state(cls, tensors: Mapping[str, np.ndarray], prefix: str, config: Mapping[str, Any]) -> TextDecoder:
        trimmer = EdgeTrimmer.from_state(config.get("trim", {}))
        corrections = WordCorrections.from_state(config.get("corrections", {}))
        return cls(str(config["kind"]), float(config["threshold"]), str(config["separator"]), trimmer, corrections)
