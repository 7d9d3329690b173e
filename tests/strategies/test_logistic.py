"""`headstart.strategies.logistic` gives scikit-learn's answers (folds, scaling, solutions, log loss) without it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from headstart.strategies.logistic import LogisticModel, StratifiedFolds, log_loss, standardise


def _data(classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.array([f"c{i % classes}" for i in rng.permutation(90)])
    X = rng.normal(size=(90, 12)).astype(np.float32)
    X[:, 0] += np.array([int(label[1:]) for label in y]) * 1.5  # separable in part
    X[:, 3] = 7.0  # a constant feature
    return X, y


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_folds_are_stratified_k_fold_s(seed: int) -> None:
    X, y = _data(4, seed)
    y = np.concatenate([y, ["rare"] * 3])
    ours = list(StratifiedFolds(3, seed).split(np.zeros((len(y), 1)), y))
    theirs = list(StratifiedKFold(3, shuffle=True, random_state=seed).split(np.zeros((len(y), 1)), y))
    assert len(ours) == len(theirs) == 3
    for (a_train, a_test), (b_train, b_test) in zip(ours, theirs, strict=True):
        assert np.array_equal(a_train, b_train) and np.array_equal(a_test, b_test)


def test_standardise_is_standard_scaler_s() -> None:
    X, _ = _data(3)
    Xs, mean, scale = standardise(X)
    scaler = StandardScaler().fit(X)
    assert Xs.dtype == np.float32 and scale[3] == 1.0
    np.testing.assert_allclose(Xs, scaler.transform(X), atol=1e-5)
    np.testing.assert_allclose(mean, scaler.mean_, rtol=1e-6)
    np.testing.assert_allclose(scale, scaler.scale_, rtol=1e-5)


@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("C", [0.01, 1.0])
def test_logistic_model_reaches_logistic_regression_s_solution(classes: int, C: float) -> None:
    X, y = _data(classes)
    Xs, _, _ = standardise(X)
    theirs = LogisticRegression(C=C, class_weight="balanced", max_iter=2000).fit(Xs, y)
    ours = LogisticModel(C=C).fit(Xs, y)
    assert list(ours.classes_) == list(theirs.classes_) and ours.coef_.shape == theirs.coef_.shape
    np.testing.assert_allclose(ours.predict_proba(Xs), theirs.predict_proba(Xs), atol=2e-3)
    assert np.array_equal(ours.predict_proba(Xs).argmax(1), theirs.predict_proba(Xs).argmax(1))
    assert log_loss(y, ours.predict_proba(Xs), ours.classes_) == pytest.approx(
        sk_log_loss(y, theirs.predict_proba(Xs)), abs=1e-3
    )


def test_warm_start_continues_from_the_previous_solution() -> None:
    X, y = _data(3)
    Xs, _, _ = standardise(X)
    cold = LogisticModel(C=1.0).fit(Xs, y)
    warm = LogisticModel(C=1.0, warm_start=True).fit(Xs, y)
    again = warm.fit(Xs, y)  # starts at the optimum it found
    assert again.n_iter_[0] <= 1 < cold.n_iter_[0]
    np.testing.assert_allclose(again.predict_proba(Xs), cold.predict_proba(Xs), atol=1e-6)
    restarted = LogisticModel(C=1.0).fit(Xs, y).fit(Xs, y)  # without warm_start: from zero again
    assert restarted.n_iter_[0] == cold.n_iter_[0]
