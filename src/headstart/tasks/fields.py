"""The `fields` task kind: key fields (company, date, total...) per document, given as a JSON object per item.

Its models (the field extractors of `strategies/fields/`) give a `Record` per document (field name -> value,
confidence, lines, page, box) beside one confidence per field; it is scored as SROIE scores key information
extraction (`tasks.field_scores`: per-field exact match after case/whitespace normalisation, entity micro-F1).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.tasks.base import Outputs, Record, Task, register_task
from headstart.tasks.labels import Answer

if TYPE_CHECKING:
    from headstart.tasks.metrics import TaskReport
    from headstart.tasks.uncertainty import ScoreError

NO_SPREAD = 1e-9  # a bootstrap error below it is rounding: every resample scored the same


class FieldExtraction(Task):
    """One value per named field of a document (labels: canonical JSON objects of field -> value)."""

    name = "fields"
    outputs = Outputs.FIELDS  # the field strategies fit it (strategies/fields/); heads on pooled features do not
    description = "key fields per document (value per field name)"
    label_word = "fields"
    primary_metric = "entity_f1"
    transfer_scores = ()  # `rank` scores pooled features against classes: nothing to score here
    supports = frozenset({"promote", "export"})  # export: a folder (strategies/fields/export.py); expand and the
    # exemplar memory are built for classes
    promotion_metrics = ("entity_f1", "entity_precision", "entity_recall")
    budget_unit = "documents"  # no classes: a budget of N draws N training documents

    def parse(self, value: object, separator: str) -> tuple[str | None, str | None]:
        """A JSON object of field -> value, kept with its keys sorted."""
        try:
            data = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            return None, f"fields {value!r} are not a JSON object"
        if not isinstance(data, dict):
            return None, f"fields {value!r} are not a JSON object of field: value"
        return json.dumps({str(k): str(v) for k, v in data.items()}, sort_keys=True, ensure_ascii=False), None

    @property
    def has_classes(self) -> bool:
        return False  # no classes to count, stratify, threshold or budget

    def classes_of(self, labels: Sequence[str]) -> list[str]:
        return []

    def counts_of(self, labels: Sequence[str]) -> dict[str, int]:
        return {}

    def strata(self, labels: Sequence[str]) -> list[str]:
        return [""] * len(labels)

    def label_summary(self, labels: Sequence[str]) -> dict[str, float]:
        """For `inspect`: documents, and how many of them give each field a non-empty value."""
        counts: dict[str, float] = {"documents": float(len(labels))}
        for label in labels:
            for name, value in json.loads(label).items():
                counts[name] = counts.get(name, 0.0) + bool(str(value).strip())
        return counts


    def output_names(self, classes: Sequence[str], target: str | None) -> list[str]:
        return list(classes)  # the field names the extractor learned

    def decisions(
        self,
        outputs: np.ndarray,
        labels: Sequence[str],
        thresholds: np.ndarray | None,
        records: Sequence[Record] | None = None,
    ) -> list[Any]:
        """Each document's found values, field name -> text (a field not found is absent)."""
        return [values_of(record) for record in _records(records, len(outputs))]

    def answer(
        self,
        row: np.ndarray,
        labels: Sequence[str],
        thresholds: np.ndarray | None,
        top_k: int,
        record: Record | None = None,
    ) -> Answer:
        """The document's fields with their confidence, page and box."""
        return Answer(self.name, fields={name: dict(found) for name, found in (record or {}).items()})

    def report(
        self,
        y_true: Sequence[str],
        outputs: np.ndarray,
        labels: list[str],
        thresholds: np.ndarray | None = None,
        records: Sequence[Record] | None = None,
    ) -> TaskReport:
        """Entity precision, recall and micro-F1 and the per-field counts over the model's fields and the truth's."""
        from headstart.tasks.field_scores import score_fields
        from headstart.tasks.metrics import FieldsReport

        truth = [{str(k): str(v) for k, v in json.loads(label).items()} for label in y_true]
        predicted = [values_of(record) for record in _records(records, len(truth))]
        names = list(dict.fromkeys([*labels, *(name for row in truth for name in row)]))
        return FieldsReport(
            scores=score_fields(truth, predicted, names=names),
            f1_ignoring_spaces=score_fields(truth, predicted, names=names, spaces=False).f1,
            n=len(truth),
        )

    def score_error(
        self,
        report: TaskReport,
        y_true: Sequence[str],
        outputs: np.ndarray,
        labels: list[str],
        thresholds: np.ndarray | None = None,
        records: Sequence[Record] | None = None,
    ) -> ScoreError | None:
        """Entity F1's spread over a bootstrap of the test documents, not of their entities: the fields of one
        document fail together (a bad OCR page loses them all), so a binomial error over the entities would call
        noise a difference. Documents are the units the test split was drawn in and micro-F1 is a ratio of sums over
        them: a bootstrap recomputes that ratio on each resample of documents (from per-document counts), with no
        linearisation to trust on a few documents near F1 1 (the delta method and the jackknife linearise it), and
        is the error `multilabel` gives its micro-F1.
        When every resample scores the same (every document perfect, say) the bootstrap sees no spread, and the
        binomial error over the documents stands in (a perfect score half a document from its bound): 5 perfect
        receipts do not measure an extractor that never fails. None with fewer than two documents."""
        from headstart.tasks.metrics import FieldsReport
        from headstart.tasks.uncertainty import bootstrap_error, micro_f1_of_counts, proportion_error

        if not isinstance(report, FieldsReport) or len(report.scores.per_document) != report.n:
            return None
        documents = report.scores.per_document
        right = np.array([d.right for d in documents], dtype=np.int64)
        given = np.array([d.given for d in documents], dtype=np.int64)
        wanted = np.array([d.wanted for d in documents], dtype=np.int64)
        unit = "test documents"
        error = bootstrap_error(micro_f1_of_counts(right, given - right, wanted - right), report.n, unit)
        if error is None or error.se > NO_SPREAD:
            return error
        return proportion_error(report.entity_f1, report.n, unit)


def values_of(record: Record) -> dict[str, str]:
    """A document's record as field name -> found text."""
    return {name: str(found["value"]) for name, found in record.items()}


def _records(records: Sequence[Record] | None, n: int) -> Sequence[Record]:
    """The records of `n` documents; a ValueError when a model gave none (a bug of the model, not of the data)."""
    if records is None or len(records) != n:
        given = "none" if records is None else len(records)
        raise ValueError(f"a fields model must give one record per document: {n} documents, records: {given}")
    return records


FIELDS = register_task(FieldExtraction())
