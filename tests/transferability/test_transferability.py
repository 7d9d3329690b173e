"""Transferability scores: LogME against its closed form and invariants, each metric on synthetic features."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import softmax
from scipy.stats import multivariate_normal

from headstart.data import load_dataset
from headstart.errors import UsageError
from headstart.transferability import (
    _logme_one,
    check_metric,
    coding_rate,
    h_score,
    h_score_dense,
    knn_accuracy,
    knn_micro_f1,
    knn_r2,
    ledoit_wolf_shrinkage,
    leep,
    logme,
    logme_evidence,
    nce,
    rank,
    resolve_cuts,
    score_features,
    transrate,
)


def separated(n_per_class: int = 30, k: int = 4, d: int = 32, gap: float = 4.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n_per_class)
    x = rng.normal(size=(len(y), d))
    x[:, :k] += gap * np.eye(k)[y]
    return x, y


def test_logme_hand_checked_tiny_case() -> None:
    """n=2, d=1: at alpha=beta=1 the evidence is log N(y; 0, I + f f^T), computable by hand."""
    f = np.array([[1.0], [-1.0]])
    y = np.array([1.0, 0.0])
    # C = [[2, -1], [-1, 2]], det 3, C^-1 = [[2, 1], [1, 2]] / 3, y^T C^-1 y = 2/3
    by_hand = -math.log(2 * math.pi) - 0.5 * math.log(3.0) - 0.5 * (2.0 / 3.0)
    assert logme_evidence(f, y, 1.0, 1.0) == pytest.approx(by_hand, abs=1e-12)


@pytest.mark.parametrize("n,d", [(40, 5), (8, 30)])
def test_logme_fixed_point_is_the_maximum_evidence(n: int, d: int) -> None:
    rng = np.random.default_rng(1)
    f = rng.normal(size=(n, d))
    y = (f @ rng.normal(size=d) + 0.5 * rng.normal(size=n) > 0).astype(float)
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    per_sample, alpha, beta = _logme_one(u, s, n, d, y)
    gaussian = multivariate_normal(np.zeros(n), np.eye(n) / beta + f @ f.T / alpha).logpdf(y)
    assert per_sample * n == pytest.approx(gaussian, rel=1e-8)
    assert logme_evidence(f, y, alpha, beta) == pytest.approx(gaussian, rel=1e-8)
    best = minimize(lambda p: -logme_evidence(f, y, np.exp(p[0]), np.exp(p[1])), [0.0, 0.0], method="Nelder-Mead")
    assert per_sample * n >= -best.fun - 1e-4


def test_logme_invariants() -> None:
    x, y = separated()
    better, _ = separated(gap=8.0)
    noise = np.random.default_rng(2).normal(size=x.shape)
    assert logme(better, y) > logme(x, y) > logme(noise, y)
    assert logme(x, np.random.default_rng(3).permutation(y)) < logme(x, y)
    assert logme(x, y) == pytest.approx(logme(x, np.array(["a", "b", "c", "d"])[y]))  # label names don't matter


@pytest.mark.parametrize("score", [knn_accuracy, h_score, logme, transrate])
def test_feature_scores_prefer_separated_features(score) -> None:
    x, y = separated()
    noise = np.random.default_rng(4).normal(size=x.shape)
    assert score(x, y) > score(noise, y)


def test_knn_accuracy_bounds_and_tiny_classes() -> None:
    x, y = separated()
    assert knn_accuracy(x, y) > 0.95
    assert 0.0 <= knn_accuracy(np.random.default_rng(5).normal(size=x.shape), y) < 0.5
    assert knn_accuracy(x[[0, 1, 30, 31, 60]], y[[0, 1, 30, 31, 60]]) >= 0.0  # a 1-example class: leave-one-out


def test_h_score_is_finite_when_dimension_exceeds_samples() -> None:
    x, y = separated(n_per_class=3, d=200)
    assert np.isfinite(h_score(x, y))


def test_nce_and_leep_with_a_synthetic_source_head() -> None:
    rng = np.random.default_rng(6)
    y = np.repeat(np.arange(3), 40)
    informative = softmax(5.0 * np.eye(10)[y * 3] + rng.normal(size=(120, 10)), axis=1)  # class c ↔ source 3c
    random = softmax(rng.normal(size=(120, 10)), axis=1)
    assert nce(informative, y) > nce(random, y)
    assert leep(informative, y) > leep(random, y)
    assert nce(np.eye(10)[y * 3], y) == pytest.approx(0.0)  # pseudo-label determines the label: H(Y|Z)=0
    assert leep(informative, y) <= 0.0 and nce(random, y) <= 0.0
    # LEEP with a constant source head is the log-likelihood of the class prior
    assert leep(np.full((120, 10), 0.1), y) == pytest.approx(math.log(1 / 3))


def test_rank_tiny_cnn_all_cuts_is_cached_the_second_time(image_folder) -> None:
    ds = load_dataset(str(image_folder))
    first = rank(ds, ["test-cnn"], "all")
    assert [r.cut for r in first.rows] == [1, 2, 3]
    last = next(r for r in first.rows if r.is_last)
    assert np.isfinite(last.scores["leep"]) and np.isfinite(last.scores["nce"])
    assert all(np.isnan(r.scores["leep"]) for r in first.rows if not r.is_last)
    assert any("only at the last cut" in n for n in first.notes)
    again = rank(ds, ["test-cnn"], "all", metric="knn")
    assert all(r.features_computed == 0 for r in again.rows)
    assert again.sorted_rows()[0].scores["knn"] == max(r.scores["knn"] for r in again.rows)


def test_resolve_cuts_and_errors() -> None:
    from headstart.backbones import get_backbone

    cnn = get_backbone("test-cnn")
    assert resolve_cuts(cnn, "last") == [3]
    assert resolve_cuts(cnn, "all") == [1, 2, 3]
    assert resolve_cuts(cnn, ["conv1", -1]) == [1, 3]
    with pytest.raises(UsageError):
        resolve_cuts(cnn, [7])
    with pytest.raises(UsageError):
        check_metric("accuracy")


@pytest.mark.parametrize("n,d,k", [(40, 200, 4), (120, 32, 4), (30, 30, 3), (12, 1, 2)])
def test_h_score_svd_form_equals_the_dense_ledoit_wolf_pseudo_inverse(n: int, d: int, k: int) -> None:
    from sklearn.covariance import ledoit_wolf_shrinkage as sklearn_shrinkage

    rng = np.random.default_rng(n + d)
    y = np.arange(n) % k
    x = rng.normal(size=(n, d)) + rng.normal(size=(k, d))[y]
    x[:, :1] *= 20  # one dominant direction, so the shrinkage is not trivial
    centered = x - x.mean(axis=0)
    assert ledoit_wolf_shrinkage(centered) == pytest.approx(
        sklearn_shrinkage(centered, assume_centered=True), abs=1e-12
    )
    assert h_score(x, y) == pytest.approx(h_score_dense(x, y), rel=1e-9)
    # duplicated feature columns (rank-deficient, d > rank) still agree
    doubled = np.hstack([x, x])
    assert h_score(doubled, y) == pytest.approx(h_score_dense(doubled, y), rel=1e-9)


def test_coding_rate_equals_the_log_determinant() -> None:
    z = np.random.default_rng(7).normal(size=(9, 4))
    dense = 0.5 * np.linalg.slogdet(np.eye(4) + z.T @ z / (9 * 0.3))[1]
    assert coding_rate(z, eps=0.3) == pytest.approx(dense, rel=1e-12)
    assert coding_rate(np.zeros((5, 3))) == 0.0


def test_transrate_hand_checked_tiny_case() -> None:
    """Four unit vectors, class 0 = {e1, e2}, class 1 = {-e1, -e2}; eps = 1/2.

    Centred Z^T Z / n = I/2, so R(Z) = 2 * 1/2 log(1 + 1/2 / 1/2) = log 2. Class 0 around its mean (1/2, 1/2)
    is {(1/2, -1/2), (-1/2, 1/2)}: one direction with Z_k^T Z_k / n_k eigenvalue 1/2, R = 1/2 log 2; class 1
    likewise; weights 1/2 each. TransRate = log 2 - 1/2 log 2 = 1/2 log 2.
    """
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    y = np.array([0, 0, 1, 1])
    assert transrate(x, y, dim=None, eps=0.5) == pytest.approx(0.5 * math.log(2.0), abs=1e-12)
    assert transrate(3.0 * x, y, dim=None, eps=0.5) == pytest.approx(0.5 * math.log(2.0), abs=1e-12)  # row scale
    # two collapsed classes: all of the rate is explained by the label
    collapsed = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert transrate(collapsed, y, dim=None, eps=1e-4) == pytest.approx(0.5 * math.log1p(0.5 / 1e-4), rel=1e-12)


@pytest.mark.parametrize("k", [2, 4])
def test_transrate_invariants(k: int) -> None:
    x, y = separated(k=k)
    better, _ = separated(k=k, gap=8.0)
    x, better = x + 3.0, better + 3.0  # an offset, as with non-negative (post-ReLU) features
    shuffled = np.random.default_rng(3).permutation(y)
    assert transrate(better, y) > transrate(x, y) > transrate(x, shuffled)
    assert transrate(x, y) == pytest.approx(transrate(x, np.array(list("abcd"))[y]))  # label names don't matter
    assert transrate(x, y) == pytest.approx(transrate(x, y, dim=29))  # default dim = smallest class - 1
    assert transrate(better, y, dim=None) > transrate(better, shuffled, dim=None)


def test_transrate_is_finite_in_high_dimension_and_tiny_classes() -> None:
    x, y = separated(n_per_class=3, d=200)
    assert np.isfinite(transrate(x, y)) and np.isfinite(transrate(x, y, dim=None))
    assert np.isfinite(transrate(x[[0, 3, 4, 6, 7]], y[[0, 3, 4, 6, 7]]))  # a 1-example class


def test_rank_sorts_by_transrate_through_the_api(image_folder) -> None:
    from headstart import api

    result = api.rank(str(image_folder), backbones=["test-cnn"], cuts="all", metric="transrate", track=False)
    values = [r.scores["transrate"] for r in result.sorted_rows()]
    assert result.metric == "transrate" and len(values) == 3
    assert all(np.isfinite(values)) and values == sorted(values, reverse=True)


# -- regression and multi-label targets ------------------------------------------------------------------------


def regression_case(n: int = 120, d: int = 16, noise: float = 0.3, seed: int = 0):
    """Features whose first column predicts y (linearly), and pure-noise features of the same shape."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    good = rng.normal(size=(n, d))
    good[:, 0] = y + noise * rng.normal(size=n)
    return good, rng.normal(size=(n, d)), y


def test_logme_regression_is_the_evidence_of_the_real_target() -> None:
    good, noise, y = regression_case()
    value = logme(good, y, task="regression")
    # the regression form is the evidence of the target column itself: it matches the dense closed form at the
    # fixed point (alpha, beta) that _logme_one returns
    u, s, _ = np.linalg.svd(good, full_matrices=False)
    per_sample, alpha, beta = _logme_one(u, s, len(y), good.shape[1], y)
    assert value == pytest.approx(per_sample)
    assert value == pytest.approx(logme_evidence(good, y, alpha, beta) / len(y), rel=1e-8)
    # a feature that predicts the target scores higher than noise, and a permuted target lowers the score
    assert value > logme(noise, y, task="regression") + 0.3
    permuted = np.random.default_rng(1).permutation(y)
    assert value > logme(good, permuted, task="regression") + 0.3
    # less noise in the predictive feature -> higher evidence
    sharper, _, y2 = regression_case(noise=0.05)
    assert logme(sharper, y2, task="regression") > logme(regression_case(noise=1.0)[0], y2, task="regression")


def test_logme_regression_differs_from_treating_numbers_as_classes() -> None:
    good, _, y = regression_case(n=60)
    assert logme(good, y, task="regression") != pytest.approx(logme(good, y))
    with pytest.raises(UsageError, match="numeric"):
        logme(good, np.array(["a"] * 60), task="regression")


def tag_case(n: int = 90, d: int = 16, gap: float = 3.0, seed: int = 0):
    """3 tags, each carried by ~half the items independently; the features shift one dimension per tag."""
    rng = np.random.default_rng(seed)
    tags = (rng.random((n, 3)) < 0.5).astype(np.float64)
    x = rng.normal(size=(n, d))
    x[:, :3] += gap * tags
    return x, tags


def test_logme_multilabel_is_the_mean_of_per_tag_binary_logme() -> None:
    x, tags = tag_case()
    value = logme(x, tags, task="multilabel")
    per_tag = [logme(x, tags[:, j]) for j in range(3)]  # binary classification LogME: mean of 2 columns
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    one_column = [_logme_one(u, s, len(x), x.shape[1], tags[:, j])[0] for j in range(3)]
    assert value == pytest.approx(np.mean(one_column))
    assert np.isfinite(per_tag).all()
    # separated tags score higher than weak ones; shuffled tag rows score lower
    assert value > logme(tag_case(gap=0.3)[0], tags, task="multilabel")
    shuffled = tags[np.random.default_rng(1).permutation(len(tags))]
    assert value > logme(x, shuffled, task="multilabel")
    with pytest.raises(UsageError, match="0/1 matrix"):
        logme(x, tags[:, 0] * 2, task="multilabel")


def test_knn_r2_and_micro_f1() -> None:
    good, noise, y = regression_case(n=200, d=4, noise=0.05)
    assert knn_r2(good, y) > 0.5 > knn_r2(noise, y)
    assert knn_r2(noise, y) < 0.2
    assert knn_r2(good, np.ones_like(y)) == 0.0  # constant target: nothing to explain
    x, tags = tag_case(gap=6.0, d=3)
    shuffled = tags[np.random.default_rng(1).permutation(len(tags))]
    assert knn_micro_f1(x, tags) > 0.9
    assert knn_micro_f1(x, shuffled) < 0.7
    # micro-F1 by hand on a 4-item case: each item's 2 neighbours in the other folds
    f = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    t = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=float)
    assert knn_micro_f1(f, t, k=1, folds=4) == 1.0


def test_score_features_per_task_and_the_error_naming_usable_metrics() -> None:
    good, _, y = regression_case()
    scores, seconds = score_features(good, y, metrics=("logme", "knn"), task="regression")
    assert scores["logme"] == pytest.approx(logme(good, y, task="regression"))
    assert scores["knn"] == pytest.approx(knn_r2(good, y)) and set(seconds) == {"logme", "knn"}
    for metric in ("hscore", "transrate", "nce", "leep"):
        with pytest.raises(UsageError) as err:
            score_features(good, y, metrics=("logme", metric), task="regression")
        text = str(err.value) + str(err.value.__dict__)
        assert metric in text and "logme, knn" in text
    with pytest.raises(UsageError, match="multilabel"):
        check_metric("hscore", "multilabel")
    assert check_metric("knn", "multilabel") == "knn"


def test_ties_on_the_chosen_score_are_broken_by_logme() -> None:
    """kNN ties are common on small samples: the row with the better LogME ranks first, NaN rows last."""
    from headstart.transferability import ScoreRow, sort_rows

    def row(stage: str, knn: float, logme: float) -> ScoreRow:
        return ScoreRow("b", 1, stage, 3, 4, 10, {"knn": knn, "logme": logme}, 0.0, {})

    rows = [row("early", 0.729, -0.5), row("nan", float("nan"), 0.9), row("head", 0.729, -0.2), row("top", 0.8, -1)]
    assert [r.stage for r in sort_rows(rows, "knn")] == ["top", "head", "early", "nan"]
