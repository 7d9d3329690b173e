"""SROIE-style field scores (`tasks.field_scores`) and the `fields` task kind's report, its score's error over
documents, decisions and answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from headstart.tasks import answer, decisions, score_error, task_report
from headstart.tasks.field_scores import DocumentCounts, normalise, score_fields
from headstart.tasks.fields import FIELDS  # registers the kind (the documents modality imports it too)
from headstart.tasks.metrics import FieldsReport
from headstart.tasks.uncertainty import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, ScoreError


def test_a_value_is_right_after_case_and_whitespace_are_normalised() -> None:
    assert normalise("  Acme   Trading\tSdn ") == "acme trading sdn"
    assert normalise("NO 12,JALAN  MAJU", spaces=False) == "no12,jalanmaju"
    scores = score_fields([{"company": "ACME  Trading"}], [{"company": "acme trading "}])
    assert scores.per_field["company"].right == 1 and scores.f1 == 1.0
    punctuation = score_fields([{"total": "9.00"}], [{"total": "RM9.00"}])  # exact match: no currency stripped
    assert punctuation.per_field["total"].wrong == 1 and punctuation.f1 == 0.0


def test_wrong_missing_and_extra_are_counted_per_field_and_micro_f1_matches_a_hand_count() -> None:
    truth = [
        {"company": "A", "date": "01/01/2019", "total": "1.00"},
        {"company": "B", "date": "02/02/2019", "total": ""},
        {"company": "C", "date": "03/03/2019", "total": "3.00"},
    ]
    predicted = [
        {"company": "A", "date": "01/01/2019", "total": "9.99"},  # right, right, wrong
        {"company": "B", "total": "2.00"},  # right, missing, extra
        {"company": "X", "date": "03/03/2019"},  # wrong, right, missing
    ]
    scores = score_fields(truth, predicted)
    company, date, total = (scores.per_field[n] for n in ("company", "date", "total"))
    assert (company.right, company.wrong, company.missing, company.extra, company.documents) == (2, 1, 0, 0, 3)
    assert (date.right, date.wrong, date.missing, date.extra, date.documents) == (2, 0, 1, 0, 3)
    assert (total.right, total.wrong, total.missing, total.extra, total.documents) == (0, 1, 1, 1, 2)
    # by hand: 4 right; 4 + 2 wrong + 1 extra = 7 given; 8 true values
    assert scores.precision == pytest.approx(4 / 7) and scores.recall == pytest.approx(4 / 8)
    assert scores.f1 == pytest.approx(2 * (4 / 7) * (4 / 8) / (4 / 7 + 4 / 8))
    assert company.exact_match == pytest.approx(2 / 3) and total.exact_match == 0.0
    # per document: right, given (right, wrong or extra), true values
    assert scores.per_document == (DocumentCounts(2, 3, 3), DocumentCounts(1, 2, 2), DocumentCounts(1, 2, 3))
    assert "per_document" not in scores.to_dict()  # the report's JSON stays as it was


def test_ignoring_spaces_scores_ocr_that_drops_them_and_mismatched_lengths_are_refused() -> None:
    truth, predicted = [{"address": "NO 290, JALAN AIR PANAS"}], [{"address": "NO290,JALANAIRPANAS"}]
    assert score_fields(truth, predicted).f1 == 0.0
    assert score_fields(truth, predicted, spaces=False).f1 == 1.0
    with pytest.raises(ValueError, match="2 true documents but 1 predicted"):
        score_fields([{}, {}], [{}])


def _record(**values: str) -> dict[str, dict[str, object]]:
    return {k: {"value": v, "confidence": 0.9, "lines": [0], "page": 0, "box": [0, 0, 1, 1]} for k, v in values.items()}


def test_the_fields_report_scores_records_and_names_the_fields_either_side_knows() -> None:
    y_true = [json.dumps({"company": "A", "total": "1.00"}), json.dumps({"company": "B", "total": "2 .00"})]
    records = [_record(company="A", total="1.00"), _record(company="b", total="2.00")]
    outputs = np.array([[0.9, 0.9], [0.9, 0.9]], dtype=np.float32)
    report = task_report(FIELDS.name, y_true, outputs, ["company"], None, records)
    assert isinstance(report, FieldsReport) and report.n == 2
    assert list(report.per_field) == ["company", "total"]  # the model's fields, then the truth's others
    assert report.entity_f1 == pytest.approx(0.75) and report.f1_ignoring_spaces == 1.0
    doc = report.to_dict()
    assert doc["task"] == "fields" and doc["per_field"]["total"] == {
        "documents": 2, "exact_match": 0.5, "right": 1, "wrong": 1, "missing": 0, "extra": 0,
    }  # fmt: skip
    assert report.summary()["entity_f1"] == report.score == FIELDS.report(
        y_true, outputs, ["company"], records=records
    ).score
    with pytest.raises(ValueError, match="one record per document"):
        task_report(FIELDS.name, y_true, outputs, ["company"])


def test_fields_decisions_and_answers_come_from_the_records() -> None:
    records = [_record(company="A", date="01/01/2019"), {}]
    outputs = np.zeros((2, 2), dtype=np.float32)
    assert decisions(FIELDS.name, outputs, ["company", "date"], None, records) == [
        {"company": "A", "date": "01/01/2019"},
        {},
    ]
    a = answer(FIELDS.name, outputs[0], ["company", "date"], None, 3, records[0])
    assert a.to_dict() == {"fields": records[0]}
    assert FIELDS.promotion_metrics[0] == "entity_f1" and FIELDS.budget_unit == "documents"


FIELD_NAMES = ("company", "date", "address", "total")


def _error_of(failures: dict[int, int], documents: int = 20) -> tuple[FieldsReport, ScoreError | None]:
    """Entity F1's error on `documents` receipts of four fields, where document i misses `failures[i]` of them."""
    y_true = [json.dumps({name: f"{name} {i}" for name in FIELD_NAMES}) for i in range(documents)]
    records = [_record(**{name: f"{name} {i}" for name in FIELD_NAMES[failures.get(i, 0) :]}) for i in range(documents)]
    outputs = np.zeros((documents, len(FIELD_NAMES)), dtype=np.float32)
    report = task_report(FIELDS.name, y_true, outputs, list(FIELD_NAMES), None, records)
    assert isinstance(report, FieldsReport)
    return report, score_error(FIELDS.name, report, y_true, outputs, list(FIELD_NAMES), None, records)


def test_the_error_of_entity_f1_is_over_documents_so_failures_concentrated_in_a_few_weigh_more() -> None:
    spread_report, spread = _error_of({i: 1 for i in range(8)})  # 8 receipts miss one field each
    together_report, together = _error_of({0: 4, 1: 4})  # 2 receipts lose all four: the same 8 entities
    assert spread_report.entity_f1 == together_report.entity_f1 == pytest.approx(2 * 72 / 152)
    assert spread is not None and together is not None
    assert (together.n, together.unit, together.method) == (20, "test documents", "bootstrap")
    assert together.se > 1.5 * spread.se > 0  # what the documents' fields do together, entities cannot tell
    p = together_report.entity_f1
    assert together.se > 1.4 * math.sqrt(p * (1 - p) / 80)  # the binomial over 80 entities claimed too little


def test_the_error_is_a_seeded_bootstrap_of_documents_that_a_direct_computation_repeats() -> None:
    report, error = _error_of({0: 4, 3: 2, 5: 1, 11: 3})
    assert error is not None and _error_of({0: 4, 3: 2, 5: 1, 11: 3})[1] == error  # the same resamples each time
    counts = report.scores.per_document
    right, given, wanted = (np.array([getattr(d, k) for d in counts]) for k in ("right", "given", "wanted"))
    draws = np.random.default_rng(BOOTSTRAP_SEED).integers(0, 20, size=(BOOTSTRAP_RESAMPLES, 20))
    f1 = 2 * right[draws].sum(1) / (given[draws].sum(1) + wanted[draws].sum(1))
    assert error.se == pytest.approx(float(f1.std(ddof=1)), rel=1e-12)


def test_perfect_documents_show_no_spread_so_the_error_is_half_a_document_from_the_bound() -> None:
    for documents in (5, 200):
        report, error = _error_of({}, documents)
        assert report.entity_f1 == 1.0 and error is not None
        p = 1 - 0.5 / documents  # 5 of 5 perfect receipts do not measure an extractor that never fails
        assert (error.method, error.unit, error.n) == ("binomial", "test documents", documents)
        assert error.se == pytest.approx(math.sqrt(p * (1 - p) / documents))
    assert error.se < 0.006  # tiny on many documents
    assert _error_of({}, 1)[1] is None  # one document: no error to measure
