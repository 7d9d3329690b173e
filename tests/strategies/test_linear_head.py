"""LinearHead: learns separable data, chooses C by CV, round-trips through arrays, calibrates SVM margins."""

from __future__ import annotations

import numpy as np
import pytest

from headstart.errors import UsageError
from headstart.strategies.linear import LinearHead


def blobs(n_per_class: int = 20, classes: int = 3, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, size=(classes, dim))
    X = np.concatenate([c + rng.normal(0, 1, size=(n_per_class, dim)) for c in centers])
    y = np.repeat([f"c{i}" for i in range(classes)], n_per_class)
    return X.astype(np.float32), y


@pytest.mark.parametrize("kind", ["logreg", "svm"])
def test_fits_separable_data(kind: str) -> None:
    X, y = blobs()
    head = LinearHead(kind=kind).fit(X, y)
    assert (head.predict(X) == y).mean() > 0.95
    proba = head.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert head.C_ in (0.01, 0.1, 1.0)


def test_binary_probabilities_match_sklearn() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = blobs(classes=2)
    head = LinearHead(C=0.5, class_weight=None).fit(X, y)
    Xs = StandardScaler().fit_transform(X)
    reference = LogisticRegression(C=0.5, max_iter=2000).fit(Xs, y).predict_proba(Xs)
    np.testing.assert_allclose(head.predict_proba(X), reference, atol=1e-4)


def test_state_roundtrip_gives_identical_predictions() -> None:
    X, y = blobs()
    head = LinearHead(kind="svm").fit(X, y)
    copy = LinearHead.from_state(head.config(), head.state(), list(head.classes_))
    np.testing.assert_array_equal(copy.predict_proba(X), head.predict_proba(X))


def test_too_few_examples_for_cv_uses_default_c() -> None:
    X, y = blobs(n_per_class=2)
    assert LinearHead().fit(X, y).C_ == 1.0


def test_svm_temperature_improves_log_loss() -> None:
    X, y = blobs(n_per_class=30, seed=3)
    X = X + np.random.default_rng(1).normal(0, 3, size=X.shape).astype(np.float32)
    head = LinearHead(kind="svm").fit(X, y)
    idx = np.searchsorted(head.classes_, y)

    def nll(t: float) -> float:
        from scipy.special import log_softmax

        return -log_softmax(head.decision_function(X) / t, axis=1)[np.arange(len(y)), idx].mean()

    assert nll(head.temperature_) <= nll(1.0) + 1e-9


def test_one_class_is_refused() -> None:
    with pytest.raises(UsageError, match="at least 2 classes"):
        LinearHead().fit(np.zeros((4, 2)), ["a"] * 4)


def test_predict_before_fit_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearHead().predict(np.zeros((1, 2)))


@pytest.mark.parametrize("classes", [2, 4])
def test_the_head_is_scikit_learn_s_cross_validated_balanced_logistic_regression(classes: int) -> None:
    """The warm-started C search picks what a plain grid search on the same folds picks, and the head then
    predicts what `LogisticRegression(class_weight="balanced")` on standardised features predicts."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(7)
    X, y = blobs(classes=classes, n_per_class=25, seed=7)
    X = X + rng.normal(0, 2.5, size=X.shape).astype(np.float32)  # overlapping: C matters
    head = LinearHead(seed=3).fit(X, y)
    Xs = StandardScaler().fit_transform(X)
    search = GridSearchCV(
        LogisticRegression(class_weight="balanced", max_iter=2000),
        {"C": [0.01, 0.1, 1.0]},
        cv=StratifiedKFold(3, shuffle=True, random_state=3),
        scoring="neg_log_loss",
    ).fit(Xs, y)
    assert head.C_ == search.best_params_["C"]
    reference = LogisticRegression(C=head.C_, class_weight="balanced", max_iter=2000).fit(Xs, y)
    np.testing.assert_allclose(head.predict_proba(X), reference.predict_proba(Xs), atol=1e-3)
    assert list(head.predict(X)) == list(reference.predict(Xs))
