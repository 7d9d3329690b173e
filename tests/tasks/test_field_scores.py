"""SROIE-style field scores (`tasks.field_scores`) and the `fields` task kind's report, decisions and answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from headstart.tasks import answer, decisions, task_report
from headstart.tasks.field_scores import normalise, score_fields
from headstart.tasks.fields import FIELDS  # registers the kind (the documents modality imports it too)
from headstart.tasks.metrics import FieldsReport


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
