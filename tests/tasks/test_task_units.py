"""Task kinds in isolation: cell parsing, detection, strata, thresholds, answers, heads, metrics, objectives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from headstart.strategies.task_heads import MultiLabelHead, RidgeHead, SparseRidgeHead, load_task_head
from headstart.tasks import (
    answer,
    classes_of,
    counts_of,
    decisions,
    detect_task,
    encode_targets,
    split_tags,
    strata,
    task_label,
    tune_thresholds,
)
from headstart.tasks.metrics import multilabel_report, regression_report
from headstart.train.objectives import objective_for


def test_tags_are_stripped_deduplicated_and_sorted() -> None:
    assert split_tags(" outdoor; flower;flower ;", ";") == ("flower", "outdoor")
    assert task_label("outdoor|flower", "multilabel", "|") == ("flower;outdoor", None)
    assert task_label(["b", "a", "a"], "multilabel", ";") == ("a;b", None)


def test_empty_label_set_and_non_numbers_are_refused_with_reasons() -> None:
    label, reason = task_label(" ; ;", "multilabel", ";")
    assert label is None and "empty label set" in reason
    label, reason = task_label("cheap", "regression", ";")
    assert label is None and "'cheap' is not a number" in reason
    assert task_label("inf", "regression", ";")[0] is None
    assert task_label(" 2.5 ", "regression", ";") == ("2.5", None)


@pytest.mark.parametrize(
    ("values", "task", "numeric", "expected"),
    [
        (["a", "b;c"], "auto", False, "multilabel"),
        (["a", "b", "c"], "auto", False, "classification"),
        (["1", "0", "1"], "auto", False, "classification"),  # numeric labels stay classes without --target
        (["1.5", "2"], "auto", True, "regression"),
        (["a;b"], "classification", False, "classification"),  # forced
        (["x", ["a", "b"]], "auto", False, "multilabel"),  # JSONL lists
    ],
)
def test_task_detection(values: list, task: str, numeric: bool, expected: str) -> None:
    assert detect_task(values, task, ";", numeric_target=numeric) == expected


def test_classes_counts_and_encodings_per_kind() -> None:
    labels = ["a;b", "b", "b;c"]
    assert classes_of(labels, "multilabel") == ["a", "b", "c"]
    assert counts_of(labels, "multilabel") == {"a": 1, "b": 3, "c": 1}
    assert encode_targets(labels, "multilabel", ["a", "b", "c"]).tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 1]]
    assert classes_of(["1.0", "2.0"], "regression") == []
    assert encode_targets(["1.5", "-2.0"], "regression", []).tolist() == [1.5, -2.0]


def test_strata_use_rarest_tag_and_value_quantiles() -> None:
    assert strata(["a;b", "b", "b;c"], "multilabel") == ["a", "b", "c"]
    bins = strata([repr(float(v)) for v in range(100)], "regression")
    assert len(set(bins)) == 5 and bins[0] != bins[-1] and bins == sorted(bins)


def test_thresholds_maximise_each_tags_f1() -> None:
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    proba = np.array([[0.30, 0.9], [0.25, 0.8], [0.10, 0.7], [0.05, 0.1]])
    t = tune_thresholds(y, proba)
    assert 0.10 < t[0] <= 0.25  # separates 0.25/0.30 from 0.10/0.05
    assert 0.10 < t[1] <= 0.70  # every positive (0.7) in, the 0.1 negative out... 0.8/0.9 negatives cost F1
    predicted = proba >= t
    assert f1_score(y[:, 0], predicted[:, 0]) == 1.0


def test_answers_per_kind() -> None:
    row = np.array([0.9, 0.2, 0.6])
    tags = answer("multilabel", row, ["a", "b", "c"], np.array([0.5, 0.1, 0.7]), top_k=2)
    assert tags.labels == ["a", "b"] and [lab for lab, _ in tags.top] == ["a", "c"]
    assert tags.to_dict() == {"labels": ["a", "b"], "top": [{"label": "a", "probability": 0.9},
                                                           {"label": "c", "probability": 0.6}]}  # fmt: skip
    assert answer("regression", np.array([3.25]), ["price"], None, 3).to_dict() == {"value": 3.25}
    assert answer("classification", row, ["a", "b", "c"], None, 1).label == "a"
    assert decisions("multilabel", np.array([row]), ["a", "b", "c"], None) == [["a", "c"]]


def test_multilabel_head_learns_independent_tags_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0.5, X[:, 0] + X[:, 2] > 0], axis=1).astype(float)
    head = MultiLabelHead(seed=0).fit(X, Y)
    P = head.predict_proba(X)
    assert P.shape == (120, 3) and not np.allclose(P.sum(axis=1), 1.0)  # independent tags, not a softmax
    assert ((P >= head.thresholds_) == Y).mean() > 0.9
    again = load_task_head("multilabel", head.config(), head.state())
    np.testing.assert_allclose(again.predict_proba(X), P, rtol=1e-5)


def test_multilabel_head_handles_a_tag_that_never_varies() -> None:
    X = np.random.default_rng(1).normal(size=(30, 3))
    Y = np.stack([X[:, 0] > 0, np.ones(30)], axis=1)
    P = MultiLabelHead(seed=0).fit(X, Y).predict_proba(X)
    assert np.all(P[:, 1] > 0.9)


def test_ridge_head_recovers_a_linear_target() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = 3 * X[:, 0] - 2 * X[:, 1] + 10 + rng.normal(0, 0.1, 200)
    for head in (RidgeHead(), SparseRidgeHead()):
        pred = head.fit(X, y).predict_proba(X)[:, 0]
        assert np.abs(pred - y).mean() < 0.2
    again = load_task_head("regression", head.config(), head.state())
    np.testing.assert_allclose(again.predict_proba(X), head.predict_proba(X), rtol=1e-5)


def test_multilabel_report_matches_sklearn() -> None:
    y_true = ["a;b", "b", "c", "a"]
    proba = np.array([[0.9, 0.8, 0.1], [0.2, 0.7, 0.3], [0.1, 0.6, 0.9], [0.4, 0.1, 0.2]])
    thresholds = np.array([0.5, 0.5, 0.5])
    report = multilabel_report(y_true, proba, ["a", "b", "c"], thresholds)
    Y = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    P = (proba >= 0.5).astype(int)
    assert report.micro_f1 == pytest.approx(f1_score(Y, P, average="micro"))
    assert report.macro_f1 == pytest.approx(f1_score(Y, P, average="macro"))
    assert report.per_label["a"]["recall"] == 0.5 and report.per_label["c"]["f1"] == 1.0
    assert report.subset_accuracy == 0.5 and 0 < report.mean_average_precision <= 1


def test_regression_report() -> None:
    report = regression_report(["1", "2", "3", "4"], np.array([[1.0], [2.0], [3.0], [6.0]]))
    assert report.mae == 0.5 and report.rmse == 1.0
    assert report.r2 == pytest.approx(1 - 4 / 5)


def test_objectives_per_kind() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.0, 0.5]])
    bce = objective_for("multilabel").loss(logits, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert bce == pytest.approx(torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.tensor([[1.0, 0.0], [0.0, 1.0]])).item())  # fmt: skip
    reg = objective_for("regression", mean=10.0, scale=2.0)
    assert reg.loss(torch.tensor([[0.0], [1.0]]), torch.tensor([10.0, 12.0])).item() == 0.0
    assert reg.outputs(torch.tensor([[1.0]])).item() == 12.0
    huber = objective_for("regression", loss="huber")
    assert huber.loss(torch.tensor([[3.0]]), torch.tensor([0.0])).item() == pytest.approx(2.5)
    assert objective_for("multilabel").correct(logits, logits) is None
