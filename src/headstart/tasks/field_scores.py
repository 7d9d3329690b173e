"""Scores of extracted fields against the true ones, as SROIE scores key information extraction: a value is
right when it equals the true value after case and whitespace are normalised; entity micro-F1 over every field
of every document; per field, the exact-match rate and how the others went wrong (wrong value, missing, extra);
per document, the counts its score's error is resampled from (`DocumentCounts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


def normalise(value: str, *, spaces: bool = True) -> str:
    """Case-folded with runs of whitespace as one space (`spaces=False`: with no whitespace at all)."""
    words = str(value).casefold().split()
    return " ".join(words) if spaces else "".join(words)


@dataclass(frozen=True)
class FieldCounts:
    """One field over a set of documents."""

    documents: int = 0  # documents whose truth has a value for it
    right: int = 0
    wrong: int = 0  # a value was given, and it is not the true one
    missing: int = 0  # the truth has a value, none was given
    extra: int = 0  # a value was given where the truth has none

    @property
    def exact_match(self) -> float:
        return self.right / self.documents if self.documents else 0.0


@dataclass(frozen=True)
class DocumentCounts:
    """One document's entities: its values found right, given and true (the fields of one document fail together,
    so the error of entity F1 resamples documents, not entities)."""

    right: int = 0
    given: int = 0  # values given: right, wrong or extra
    wanted: int = 0  # true values


@dataclass(frozen=True)
class FieldScores:
    """Entity precision, recall and micro-F1 over all fields, the counts per field and per document (in document
    order; kept out of `to_dict`)."""

    precision: float
    recall: float
    f1: float
    per_field: dict[str, FieldCounts] = field(default_factory=dict)
    per_document: tuple[DocumentCounts, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "entity_precision": round(self.precision, 4),
            "entity_recall": round(self.recall, 4),
            "entity_f1": round(self.f1, 4),
            "per_field": {
                name: {
                    "documents": c.documents,
                    "exact_match": round(c.exact_match, 4),
                    "right": c.right,
                    "wrong": c.wrong,
                    "missing": c.missing,
                    "extra": c.extra,
                }
                for name, c in self.per_field.items()
            },
        }


def score_fields(
    truth: Sequence[Mapping[str, str]],
    predicted: Sequence[Mapping[str, str]],
    *,
    spaces: bool = True,
    names: Sequence[str] | None = None,
) -> FieldScores:
    """Score predicted fields against the truth, document by document (`spaces=False` ignores whitespace, the
    measure of OCR that drops spaces). `names`: the fields scored (default: every field either side names)."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true documents but {len(predicted)} predicted")
    if names is None:
        seen: dict[str, None] = {}
        for document in (*truth, *predicted):
            seen.update(dict.fromkeys(document))
        names = list(seen)
    counts = {name: [0, 0, 0, 0, 0] for name in names}  # documents, right, wrong, missing, extra
    per_document = []
    for true_row, predicted_row in zip(truth, predicted, strict=True):
        right = given = wanted = 0
        for name in names:
            want = normalise(true_row.get(name, ""), spaces=spaces)
            got = normalise(predicted_row.get(name, ""), spaces=spaces)
            tally = counts[name]
            tally[0] += bool(want)
            if want and got:
                tally[1 if got == want else 2] += 1
            elif want:
                tally[3] += 1
            elif got:
                tally[4] += 1
            right += bool(want) and got == want
            given += bool(got)
            wanted += bool(want)
        per_document.append(DocumentCounts(right, given, wanted))
    per_field = {name: FieldCounts(*tally) for name, tally in counts.items()}
    right = sum(c.right for c in per_field.values())
    given = sum(c.right + c.wrong + c.extra for c in per_field.values())
    wanted = sum(c.documents for c in per_field.values())
    precision = right / given if given else 0.0
    recall = right / wanted if wanted else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return FieldScores(precision, recall, f1, per_field, tuple(per_document))
