"""A date or amount field's value: every typed span of the document is a candidate, scored by a small logistic
regression over the tagger's probability for its line and its neighbours, the keywords around it, how its value
ranks and relates to the document's other values (the largest amount, cash minus change) and how it is written;
the value is the span as written, with what the training values write before it (nothing for "RM", "$" for "$")
and without the spaces OCR put between its digits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from headstart.strategies.fields.candidates import Candidate, candidates, matches, meaning
from headstart.strategies.fields.extractor import FoundField, union_box
from headstart.strategies.fields.flags import FLAG_NAMES
from headstart.strategies.fields.layout import LAYOUT_NAMES
from headstart.strategies.fields.line_features import DocumentLayout
from headstart.strategies.fields.saved import LinearScorer

_KEYWORD_COLUMNS = [i for i, name in enumerate(FLAG_NAMES) if name.startswith("kw_")]
_CENTRE_Y = LAYOUT_NAMES.index("centre_y")
_TIME_AFTER = re.compile(r"^\s*\d{1,2}:\d{2}")
_INNER_SPACE = re.compile(r"(?<=[\d.,/:-])\s+(?=[\d.,/:-])")  # "73. 00", "25/12/ 2018": spaces OCR put in
_BEFORE = re.compile(r"((?<![^\W\d_])[^\W\d_]{1,3}|[^\w\s])\s?$")  # a short word or one symbol


def _near(p: np.ndarray, index: int) -> float:
    return float(p[index]) if index >= 0 else 0.0


def _keywords(doc: DocumentLayout, index: int) -> np.ndarray:
    if 0 <= index < len(doc.lines):
        return doc.flags[index, _KEYWORD_COLUMNS]
    return np.zeros(len(_KEYWORD_COLUMNS), dtype=np.float32)


def _differences(values: np.ndarray) -> set[int]:
    """Values (in cents) that are the difference of two others (a tendered sum minus its change)."""
    cents = sorted({int(round(v * 100)) for v in values if v > 0})
    return {a - b for a in cents for b in cents if a > b}


def candidate_features(doc: DocumentLayout, p: np.ndarray, found: Sequence[Candidate]) -> np.ndarray:
    """(len(found), d) features of a document's typed candidates given the field's line probabilities `p`: the
    tagger's belief in the line and its neighbours, how the value ranks and relates to the document's other
    values, how it is written, and the keywords on its line, its left neighbour and the lines before and above."""
    if not found:
        return np.zeros((0, 0), dtype=np.float32)
    values = np.array([c.value for c in found])
    distinct = np.unique(values)
    rank_of = {v: r / max(len(distinct) - 1, 1) for r, v in enumerate(distinct)}
    best_p = max(float(p[c.line]) for c in found)
    differences = _differences(values) if len(found) < 300 else set()
    per_line: dict[int, int] = {}
    for c in found:
        per_line[c.line] = per_line.get(c.line, 0) + 1
    row_keywords = [np.maximum(_keywords(doc, i), _keywords(doc, int(doc.near.left[i]))) for i in range(len(doc.lines))]
    no_keywords = np.zeros(len(_KEYWORD_COLUMNS), dtype=np.float32)
    rows = []
    for order, c in enumerate(found):
        text = doc.lines[c.line].text
        left = int(doc.near.left[c.line])
        above = int(doc.near.above[c.line])
        written = c.text
        echoes = [row_keywords[o.line] for o in found if o.line != c.line and abs(o.value - c.value) < 0.005]
        on_row = sum(per_line.get(i, 0) for i in {c.line, left, int(doc.near.right[c.line])} if i >= 0)
        before = [row_keywords[i] for i in range(max(0, c.line - 6), c.line)]
        rows.append(
            np.concatenate(
                [
                    [
                        float(p[c.line]),
                        float(p[c.line]) / best_p if best_p > 0 else 0.0,
                        float(p[c.line] >= best_p),
                        _near(p, left),
                        _near(p, int(doc.near.right[c.line])),
                        _near(p, above),
                        _near(p, int(doc.near.below[c.line])),
                        float(len(written) > 3 and written[-3] in ".," and written[-2:].isdigit()),
                        float(" " in written),
                        float(len(written) >= 8),
                        rank_of[c.value],
                        float(c.value == values.max()),
                        min(int((values == c.value).sum()), 4) / 4.0,
                        float(int(round(c.value * 100)) in differences),
                        float(int(round(c.value * 100)) % 5 == 0),
                        float(order == 0),
                        float(order == len(found) - 1),
                        float(doc.layout[c.line, _CENTRE_Y]),
                        float(c.end >= len(text.rstrip()) - 1),
                        len(written) / max(len(text), 1),
                        float(bool(c.prefix)),
                        min(per_line[c.line], 4) / 4.0,
                        min(on_row, 4) / 4.0,
                        float(bool(_TIME_AFTER.match(text[c.end :]))),
                        float(c.start > 0 and text[c.start - 1].isalnum()),
                        float(c.end < len(text) and text[c.end].isalnum()),
                    ],
                    _keywords(doc, c.line),
                    _keywords(doc, left),
                    _keywords(doc, above),
                    _keywords(doc, c.line - 1),
                    _keywords(doc, c.line - 2),
                    np.max(echoes, axis=0) if echoes else no_keywords,
                    np.max(before, axis=0) if before else no_keywords,
                ]
            )
        )
    return np.asarray(rows, dtype=np.float32)


def written_before(text: str, start: int) -> str:
    """The few non-digit characters written just before a span ("RM", "$", "S" where OCR misread a "$", ":")."""
    found = _BEFORE.search(text[:start])
    return found.group(1).casefold() if found else ""


def value_prefix(value: str, written: str) -> str | None:
    """What a value writes before the span `written` (spaces aside): "RM " for "RM 3.90" and "3.90"; None when the
    value does not end with the span."""
    value = value.strip()
    number = "".join(written.split())
    at, seen = len(value), 0
    while at > 0 and seen < len(number):
        at -= 1
        seen += not value[at].isspace()
    return value[:at] if "".join(value[at:].split()).casefold() == number.casefold() else None


class TypedDecoder:
    """Picks a field's date or amount among the document's typed spans, and writes it as the training values do:
    what they put before the span for what is written before it (nothing for "RM", "$" for "$" or an OCR's "S"),
    and the span without the spaces OCR put between its digits unless the values have such spaces."""

    def __init__(
        self,
        kind: str,
        scorer: LinearScorer | None = None,
        prefixes: Mapping[str, str] | None = None,
        squeeze: bool = True,
    ) -> None:
        self.kind = kind
        self.scorer = scorer
        self.prefixes = dict(prefixes or {})
        self.squeeze = squeeze

    def fit(self, documents: Sequence[DocumentLayout], probs: Sequence[np.ndarray], values: Sequence[str]) -> None:
        """Learn from training documents, the tagger's (held-out) line probabilities of the field, the values."""
        blocks, targets = [], []
        written: dict[str, dict[str, int]] = {}
        spaced = 0
        for doc, p, value in zip(documents, probs, values, strict=True):
            target = meaning(value, self.kind) if value.strip() else None
            found = candidates(doc.lines, self.kind)
            if target is None or not found:
                continue
            right = [matches(c, target) for c in found]
            if not any(right):
                continue
            blocks.append(candidate_features(doc, p, found))
            targets += right
            for c, ok in zip(found, right, strict=True):
                prefix = value_prefix(value, c.text) if ok else None
                if prefix is not None:
                    row = written.setdefault(written_before(doc.lines[c.line].text, c.start), {})
                    row[prefix] = row.get(prefix, 0) + 1
                    spaced += bool(_INNER_SPACE.search(value.strip()[len(prefix) :]))
        self.prefixes = {
            before: max(options.items(), key=lambda item: (item[1], -len(item[0])))[0]
            for before, options in written.items()
        }
        self.prefixes = {before: prefix for before, prefix in self.prefixes.items() if prefix}
        self.squeeze = spaced == 0
        self.scorer = None
        if blocks and 0 < sum(targets) < len(targets):
            model = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
            with threadpool_limits(limits=1, user_api="blas"):
                model.fit(np.vstack(blocks), np.asarray(targets, dtype=np.int64))
            self.scorer = LinearScorer.from_sklearn(model)

    def decode(self, doc: DocumentLayout, p: np.ndarray) -> FoundField | None:
        found = candidates(doc.lines, self.kind)
        if not found:
            return None
        if self.scorer is not None:
            scores = self.scorer.predict_proba(candidate_features(doc, p, found))[:, 1]
        else:
            scores = np.array([p[c.line] for c in found])
        best = found[int(np.argmax(scores))]
        line = doc.lines[best.line]
        text = _INNER_SPACE.sub("", best.text) if self.squeeze else best.text
        value = self.prefixes.get(written_before(line.text, best.start), "") + text
        return FoundField(value, float(scores.max()), (best.line,), line.page, union_box(doc.lines, [best.line]))

    def state(self, prefix: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        tensors, scorer = self.scorer.to_state(prefix) if self.scorer is not None else ({}, None)
        config = {"kind": self.kind, "scorer": scorer, "prefixes": self.prefixes, "squeeze": self.squeeze}
        return tensors, config

    @classmethod
    def from_state(cls, tensors: Mapping[str, np.ndarray], prefix: str, config: Mapping[str, Any]) -> TypedDecoder:
        scorer = None if config["scorer"] is None else LinearScorer.from_state(tensors, prefix, config["scorer"])
        prefixes = {str(k): str(v) for k, v in config["prefixes"].items()}
        return cls(str(config["kind"]), scorer, prefixes, bool(config["squeeze"]))
