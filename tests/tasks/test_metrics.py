"""Metrics: accuracy, macro-F1, per-class figures, confusion matrix and ECE on hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from headstart.metrics import classification_report, expected_calibration_error


def test_report_on_a_hand_checked_case() -> None:
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    report = classification_report(["a", "a", "b", "b"], proba, ["a", "b"])
    assert report.accuracy == 0.75
    assert report.confusion_matrix == [[2, 0], [1, 1]]
    assert report.per_class["a"]["precision"] == pytest.approx(2 / 3)
    assert report.per_class["b"]["recall"] == 0.5
    assert report.macro_f1 == pytest.approx((0.8 + 2 / 3) / 2)


def test_ece_is_zero_when_confidence_equals_accuracy() -> None:
    proba = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(np.array(["a", "b"]), proba, np.array(["a", "b"])) == 0.0


def test_ece_measures_overconfidence() -> None:
    proba = np.array([[0.99, 0.01]] * 10)
    y = np.array(["a"] * 5 + ["b"] * 5)
    assert expected_calibration_error(y, proba, np.array(["a", "b"])) == pytest.approx(0.49)
