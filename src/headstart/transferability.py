"""Transferability scores: how well a frozen backbone's features at a cut suit the user's labels, before training.

Each score is a pure function of numpy arrays (features or source-head probabilities, and labels); higher
is better for all of them. `rank` extracts pooled features for every (backbone, cut) through the
FeatureStore (so ranking again is cheap) and returns one row per pair with every score and its cost.

- LogME (You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning", ICML 2021)
- kNN accuracy by stratified cross-validation (cosine similarity)
- H-score (Bao et al., "An Information-Theoretic Approach to Transferability in Task Transfer Learning",
  ICIP 2019), with a Ledoit-Wolf shrunk covariance for stability
- TransRate (Huang et al., "Frustratingly Easy Transferability Estimation", ICML 2022): coding rate of the
  features minus their coding rate given the label
- NCE (Tran et al., "Transferability and Hardness of Supervised Classification Tasks", ICCV 2019) and
  LEEP (Nguyen et al., "LEEP: A New Measure to Evaluate Transferability of Learned Representations", ICML
  2020): both read the backbone's source head, so they exist only at the last cut of a backbone that has one
  (NaN elsewhere, e.g. every text backbone).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.special import softmax

from headstart.backbones import check_modality, get_backbone
from headstart.backbones.base import Backbone
from headstart.data.dataset import Dataset
from headstart.errors import UsageError
from headstart.score_names import METRICS, SOURCE_HEAD_METRICS
from headstart.tasks import Outputs, get_task

LOGME_MAX_ITER = 100
LOGME_TOL = 1e-5
KNN_K = 5
KNN_FOLDS = 5
TRANSRATE_EPS = 1e-4  # distortion of the coding rate on unit-norm rows, as in the authors' code


# -- scores: pure functions of arrays ------------------------------------------------------------------------


def _encode(labels: np.ndarray | Sequence[Any]) -> tuple[np.ndarray, int]:
    """Labels of any type → integer codes 0..K-1 (sorted order), and K."""
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    return codes.reshape(-1), len(classes)


def logme_evidence(features: np.ndarray, target: np.ndarray, alpha: float, beta: float) -> float:
    """Log marginal likelihood log p(y | F, alpha, beta) of Bayesian linear regression y = F w + noise.

    Prior w ~ N(0, I/alpha), noise ~ N(0, 1/beta) (You et al., ICML 2021, Eq. 2). Dense form, for checks.
    """
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    residual = float(np.sum((f @ m - y) ** 2))
    _, logdet = np.linalg.slogdet(a)
    return float(
        n / 2 * math.log(beta)
        + d / 2 * math.log(alpha)
        - n / 2 * math.log(2 * math.pi)
        - beta / 2 * residual
        - alpha / 2 * float(m @ m)
        - logdet / 2
    )


def _logme_one(u: np.ndarray, s: np.ndarray, n: int, d: int, y: np.ndarray) -> tuple[float, float, float]:
    """Evidence per sample at the fixed point of (alpha, beta) for one target column, from F = U diag(s) V^T.

    Algorithm 1 of You et al.: gamma = sum beta*sigma/(alpha + beta*sigma), m = beta A^-1 F^T y,
    alpha <- gamma / m^T m, beta <- (n - gamma) / ||F m - y||^2, until alpha/beta stops moving.
    Works in the SVD basis, so each step is O(n r) with r = min(n, d).
    """
    sigma = s**2
    uty = u.T @ y  # (r,)
    y_perp = max(float(y @ y - uty @ uty), 0.0)  # part of y outside the column space of F
    alpha, beta = 1.0, 1.0
    for _ in range(LOGME_MAX_ITER):
        denom = alpha + beta * sigma
        gamma = float(np.sum(beta * sigma / denom))
        m_coef = beta * s * uty / denom  # m in the V basis
        mm = float(m_coef @ m_coef)
        residual = float(np.sum((s * m_coef - uty) ** 2)) + y_perp
        new_alpha = gamma / max(mm, 1e-12)
        new_beta = max(n - gamma, 1e-12) / max(residual, 1e-12)
        ratio, new_ratio = alpha / beta, new_alpha / new_beta
        alpha, beta = new_alpha, new_beta
        if abs(new_ratio - ratio) / max(ratio, 1e-12) < LOGME_TOL:
            break
    denom = alpha + beta * sigma
    m_coef = beta * s * uty / denom
    mm = float(m_coef @ m_coef)
    residual = float(np.sum((s * m_coef - uty) ** 2)) + y_perp
    logdet = float(np.sum(np.log(denom))) + (d - len(s)) * math.log(alpha)  # zero eigenvalues beyond rank
    evidence = (
        n / 2 * math.log(beta)
        + d / 2 * math.log(alpha)
        - n / 2 * math.log(2 * math.pi)
        - beta / 2 * residual
        - alpha / 2 * mm
        - logdet / 2
    )
    return evidence / n, alpha, beta


def _logme_columns(features: np.ndarray, targets: np.ndarray) -> float:
    """Mean over the columns of `targets` (n, t) of the maximum log evidence per sample, one SVD for all."""
    f = np.asarray(features, dtype=np.float64)
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    keep = s > s[0] * 1e-10 if len(s) else s > 0
    u, s = u[:, keep], s[keep]
    return float(np.mean([_logme_one(u, s, n, d, targets[:, j])[0] for j in range(targets.shape[1])]))


def logme(features: np.ndarray, labels: np.ndarray | Sequence[Any], task: str = "classification") -> float:
    """LogME (You et al., ICML 2021): the maximum log evidence per sample of a Bayesian linear model.

    `task="classification"`: mean over classes of the evidence of the one-vs-rest 0/1 target;
    `"regression"`: the evidence of the real-valued target itself (the paper's regression form; `labels` are
    floats); `"multilabel"`: mean over tags of the evidence of each tag's 0/1 target (`labels` is an (n, tags)
    0/1 matrix). The evidence is maximised over the prior precision alpha and noise precision beta by the
    paper's fixed-point iteration, using one SVD of the features shared by all targets. Higher means the
    features explain the target linearly with less effective complexity. Values are comparable across
    backbones and cuts of one dataset (a regression target's scale shifts every value by the same amount).
    """
    outputs = get_task(task).outputs
    if outputs is Outputs.VALUE:
        targets = _float_target(labels)[:, None]
    elif outputs is Outputs.TAGS:
        targets = _tag_matrix(labels)
    else:
        codes, k = _encode(labels)
        targets = (codes[:, None] == np.arange(k)[None, :]).astype(np.float64)
    return _logme_columns(features, targets)


def _float_target(values: np.ndarray | Sequence[Any]) -> np.ndarray:
    """A 1-D finite float64 regression target, else a UsageError."""
    try:
        y = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise UsageError(
            "a regression score needs numeric targets",
            expected="one finite number per item",
            fix="pass --task regression with a numeric --target column",
        ) from err
    if not np.all(np.isfinite(y)):
        raise UsageError("a regression target is NaN or infinite", expected="finite numbers", fix="drop those rows")
    return y


def _tag_matrix(values: np.ndarray | Sequence[Any]) -> np.ndarray:
    """An (n, tags) 0/1 float64 matrix of a multi-label target, else a UsageError."""
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 2 or not np.all((y == 0) | (y == 1)):
        raise UsageError(
            "a multi-label score needs an (items, tags) 0/1 matrix",
            expected="one row per item, one 0/1 column per tag",
            fix="encode the tags with headstart.tasks.multi_hot",
        )
    return y


def _unit_rows(features: np.ndarray) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _neighbours(x: np.ndarray, n: int, k: int, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(held-out items, their k nearest training items by cosine) for each of `folds` shuffled folds."""
    from sklearn.model_selection import KFold

    out = []
    for train, held_out in KFold(n_splits=min(folds, n), shuffle=True, random_state=seed).split(x):
        sim = x[held_out] @ x[train].T
        kk = min(k, len(train))
        out.append((held_out, train[np.argpartition(-sim, kk - 1, axis=1)[:, :kk]]))
    return out


def knn_r2(
    features: np.ndarray, target: np.ndarray | Sequence[Any], k: int = KNN_K, folds: int = KNN_FOLDS, seed: int = 0
) -> float:
    """R² of a cosine k-nearest-neighbour regression (mean of the neighbours' targets), by cross-validation.

    1 is a perfect fit, 0 is no better than predicting the mean, below 0 is worse. A constant target gives 0.
    """
    y = _float_target(target)
    if len(y) < 2:
        raise UsageError("kNN R² needs at least 2 items", expected=">= 2 items", fix="pass more data")
    predicted = np.empty_like(y)
    for held_out, top in _neighbours(_unit_rows(features), len(y), k, folds, seed):
        predicted[held_out] = y[top].mean(axis=1)
    total = float(np.sum((y - y.mean()) ** 2))
    return 0.0 if total == 0 else 1.0 - float(np.sum((y - predicted) ** 2)) / total


def knn_micro_f1(
    features: np.ndarray, tags: np.ndarray, k: int = KNN_K, folds: int = KNN_FOLDS, seed: int = 0
) -> float:
    """Micro-F1 of a cosine k-nearest-neighbour multi-label vote (a tag is predicted when at least half the k
    neighbours carry it), by cross-validation over the items. `tags` is an (n, tags) 0/1 matrix."""
    y = _tag_matrix(tags).astype(bool)
    if len(y) < 2:
        raise UsageError("kNN micro-F1 needs at least 2 items", expected=">= 2 items", fix="pass more data")
    predicted = np.zeros_like(y)
    for held_out, top in _neighbours(_unit_rows(features), len(y), k, folds, seed):
        predicted[held_out] = y[top].mean(axis=1) >= 0.5
    true_positive = int(np.sum(predicted & y))
    denominator = int(predicted.sum() + y.sum())
    return 2 * true_positive / denominator if denominator else 0.0


def knn_accuracy(
    features: np.ndarray, labels: np.ndarray | Sequence[Any], k: int = KNN_K, folds: int = KNN_FOLDS, seed: int = 0
) -> float:
    """Accuracy of a cosine k-nearest-neighbour vote, by stratified cross-validation.

    Uses min(folds, smallest class count) stratified folds, or leave-one-out when a class has a single
    example; k is min(`k`, smallest class count in the training folds) so a vote can still be won by a small
    class. Ties go to the class with the larger summed similarity.
    """
    from sklearn.model_selection import StratifiedKFold

    x = np.asarray(features, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    codes, n_classes = _encode(labels)
    smallest = int(np.bincount(codes).min())
    if smallest >= 2:
        n_splits = min(folds, smallest)
        splits = list(StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(x, codes))
        k_eff = max(1, min(k, smallest * (n_splits - 1) // n_splits))  # smallest class size in a training fold
    else:
        everyone = np.arange(len(codes))
        splits = [(np.delete(everyone, i), np.array([i])) for i in everyone]
        k_eff = max(1, min(k, len(codes) - 1))
    correct = 0
    for train, held_out in splits:
        sim = x[held_out] @ x[train].T
        kk = min(k_eff, len(train))
        top = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
        votes = np.zeros((len(held_out), n_classes))
        weights = np.zeros((len(held_out), n_classes))
        rows = np.arange(len(held_out))[:, None]
        np.add.at(votes, (rows, codes[train][top]), 1.0)
        np.add.at(weights, (rows, codes[train][top]), sim[rows, top])
        predicted = np.argmax(votes + 1e-6 * weights, axis=1)
        correct += int(np.sum(predicted == codes[held_out]))
    return correct / len(codes)


def ledoit_wolf_shrinkage(centered: np.ndarray) -> float:
    """scikit-learn's Ledoit-Wolf shrinkage (`assume_centered=True`), from n x n quantities instead of d x d ones.

    Same formula as `sklearn.covariance.ledoit_wolf_shrinkage`: sum of X2^T X2 is sum_i ||x_i||^4 and the
    squared Frobenius norm of X^T X equals that of the Gram matrix X X^T.
    """
    x = np.asarray(centered, dtype=np.float64)
    n, d = x.shape
    if d == 1:
        return 0.0
    row_sq = np.einsum("ij,ij->i", x, x)
    trace = float(row_sq.sum()) / n  # trace of the empirical covariance
    mu = trace / d
    beta_sum = float(row_sq @ row_sq)
    gram = x @ x.T if n <= d else x.T @ x
    delta_sum = float(np.sum(gram**2)) / n**2
    beta = (beta_sum / n - delta_sum) / (d * n)
    delta = (delta_sum - 2.0 * mu * trace + d * mu**2) / d
    beta = min(beta, delta)
    return 0.0 if beta == 0 else beta / delta


def h_score(features: np.ndarray, labels: np.ndarray | Sequence[Any]) -> float:
    """H-score (Bao et al., ICIP 2019): tr(cov(f)^-1 cov(E[f|y])).

    The ratio of between-class to total feature variance, summed over directions: how much of what the
    features vary in is explained by the label. cov(f) is Ledoit-Wolf shrunk (as in the shrinkage H-score of
    Ibrahim et al., 2022) and pseudo-inverted, so few samples in high dimension stay finite. Exact, but in the
    basis of the features' thin SVD: shrunk cov(f) = (1-s) V diag(sigma^2/n) V^T + s mu I has eigenvalues
    (1-s) sigma^2/n + s mu on V and s mu on its complement, so no d x d matrix is built or inverted
    (O(n d min(n, d)) instead of O(d^3); `h_score_dense` is the direct form).
    """
    f = np.asarray(features, dtype=np.float64)
    f = f - f.mean(axis=0)
    n, d = f.shape
    codes, k = _encode(labels)
    counts = np.bincount(codes, minlength=k).astype(np.float64)
    class_means = np.zeros((k, d))
    np.add.at(class_means, codes, f)
    class_means /= counts[:, None]
    shrink = ledoit_wolf_shrinkage(f)
    mu = float(np.einsum("ij,ij->", f, f)) / (n * d)
    _, s, vt = np.linalg.svd(f, full_matrices=False)
    eig = (1.0 - shrink) * s**2 / n + shrink * mu  # eigenvalues on the rows of vt
    floor = shrink * mu  # eigenvalue of the complement (d - len(s) directions)
    cutoff = 1e-15 * max(float(eig.max()) if len(eig) else 0.0, floor)  # numpy pinv's default rcond
    inv = np.where(eig > cutoff, 1.0 / np.where(eig > cutoff, eig, 1.0), 0.0)
    proj = class_means @ vt.T  # (k, r)
    quad = (proj**2) @ inv
    if d > len(s) and floor > cutoff:
        rest = np.maximum(np.einsum("ij,ij->i", class_means, class_means) - np.einsum("ij,ij->i", proj, proj), 0.0)
        quad = quad + rest / floor
    return float(counts @ quad / n)


def h_score_dense(features: np.ndarray, labels: np.ndarray | Sequence[Any]) -> float:
    """`h_score` computed directly (d x d Ledoit-Wolf covariance and pseudo-inverse), the reference for checks."""
    from sklearn.covariance import LedoitWolf

    f = np.asarray(features, dtype=np.float64)
    f = f - f.mean(axis=0)
    codes, k = _encode(labels)
    cov_f = LedoitWolf(assume_centered=True).fit(f).covariance_
    class_means = np.zeros((k, f.shape[1]))
    np.add.at(class_means, codes, f)
    class_means /= np.bincount(codes, minlength=k)[:, None]
    g = class_means[codes]
    cov_g = g.T @ g / len(f)
    return float(np.trace(np.linalg.pinv(cov_f, hermitian=True) @ cov_g))


def coding_rate(z: np.ndarray, eps: float = TRANSRATE_EPS) -> float:
    """R(Z, eps) = 1/2 logdet(I + Z^T Z / (n eps)): bits (in nats) to code the n rows of Z up to distortion eps.

    Computed from the singular values of Z, sum_i 1/2 log(1 + s_i^2 / (n eps)), so no d x d matrix is built.
    """
    z = np.asarray(z, dtype=np.float64)
    if len(z) == 0:
        return 0.0
    s = np.linalg.svd(z, compute_uv=False)
    return float(0.5 * np.sum(np.log1p(s**2 / (len(z) * eps))))


def transrate(
    features: np.ndarray,
    labels: np.ndarray | Sequence[Any],
    dim: int | None = -1,
    eps: float = TRANSRATE_EPS,
) -> float:
    """TransRate (Huang et al., ICML 2022): R(Z, eps) - sum_k n_k/n R(Z_k - mean(Z_k), eps).

    An estimate of the mutual information between features and label: the coding rate of all (centred) rows
    minus the rate of each class's rows around their class mean. Rows are scaled to unit norm first (the
    authors' code does so; the rate depends on scale). `dim` keeps that many principal components of the
    centred features: -1 (default) = the smallest class size minus one, so every class can span them and the
    value is not a count of ranks; None = all. Unlike the authors' 10-line code, each class is centred on its
    own mean, which makes R(Z|Y) the rate of Z given Y: without it two classes placed symmetrically around
    the origin score as if the label told nothing (each class then has the second moment of the whole set).
    """
    codes, k = _encode(labels)
    z = np.asarray(features, dtype=np.float64)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    z = z - z.mean(axis=0)
    if dim == -1:
        dim = max(1, int(np.bincount(codes, minlength=k).min()) - 1)
    if dim is not None and dim < min(z.shape):
        _, _, vt = np.linalg.svd(z, full_matrices=False)
        z = z @ vt[:dim].T
    conditional = 0.0
    for c in range(k):
        zc = z[codes == c]
        conditional += len(zc) / len(z) * coding_rate(zc - zc.mean(axis=0), eps)
    return coding_rate(z, eps) - conditional


def nce(source_proba: np.ndarray, labels: np.ndarray | Sequence[Any]) -> float:
    """NCE, negative conditional entropy (Tran et al., ICCV 2019): -H(Y | Z).

    Z is the source head's argmax pseudo-label for each item; the joint of (Y, Z) is the empirical one. 0 is
    the best (the source class determines the target label); more negative is worse.
    """
    z = np.argmax(np.asarray(source_proba), axis=1)
    codes, k = _encode(labels)
    _, z_codes = np.unique(z, return_inverse=True)
    joint = np.zeros((int(z_codes.max()) + 1, k))
    np.add.at(joint, (z_codes, codes), 1.0)
    joint /= joint.sum()
    p_z = joint.sum(axis=1, keepdims=True)
    nz = joint > 0
    conditional = np.where(nz, joint / np.where(p_z > 0, p_z, 1.0), 1.0)
    return float(np.sum(joint[nz] * np.log(conditional[nz])))


def leep(source_proba: np.ndarray, labels: np.ndarray | Sequence[Any]) -> float:
    """LEEP (Nguyen et al., ICML 2020): mean_i log sum_z P(y_i | z) theta(x_i)_z.

    theta(x) is the source head's softmax; the empirical joint P(y, z) = 1/n sum_i theta(x_i)_z [y_i = y]
    gives P(y | z), i.e. the best "source class → target label" translation, and LEEP is the log-likelihood
    of the true labels under it. At most 0; higher is better.
    """
    theta = np.asarray(source_proba, dtype=np.float64)
    codes, k = _encode(labels)
    onehot = np.eye(k)[codes]
    joint = theta.T @ onehot / len(theta)  # (Z, K)
    p_z = joint.sum(axis=1, keepdims=True)
    conditional = joint / np.maximum(p_z, 1e-300)
    eep = np.sum(theta * conditional[:, codes].T, axis=1)
    return float(np.mean(np.log(np.maximum(eep, 1e-300))))


# -- ranking backbones and cuts on a dataset -----------------------------------------------------------------


@dataclass
class ScoreRow:
    """Scores of one (backbone, cut) pair and what they cost."""

    backbone: str
    cut: int  # stages[0:cut] run before pooling
    stage: str  # name of the last stage kept, stages[cut - 1]
    n_stages: int
    feature_dim: int
    n_items: int
    scores: dict[str, float]
    extract_seconds: float  # features (computed now or read from the store); a share of the pass shared by all cuts
    score_seconds: dict[str, float]
    features_computed: int = 0
    features_cached: int = 0

    @property
    def is_last(self) -> bool:
        return self.cut == self.n_stages

    @property
    def seconds(self) -> float:
        """Total time this row cost: features plus every score."""
        return self.extract_seconds + sum(self.score_seconds.values())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["scores"] = {k: (None if v is None or np.isnan(v) else v) for k, v in self.scores.items()}
        out["seconds"] = self.seconds
        return out


@dataclass
class RankResult:
    """The table `headstart rank` prints: one row per (backbone, cut), sorted by `metric` (best first)."""

    rows: list[ScoreRow]
    metric: str
    n_items: int
    n_classes: int  # tags for multi-label, 0 for regression
    notes: list[str] = field(default_factory=list)
    task: str = "classification"
    run_id: str | None = None  # the tracked run, when tracking is on

    def sorted_rows(self) -> list[ScoreRow]:
        return sort_rows(self.rows, self.metric)

    def best(self) -> ScoreRow:
        return self.sorted_rows()[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "task": self.task,
            "n_items": self.n_items,
            "n_classes": self.n_classes,
            "rows": [r.to_dict() for r in self.sorted_rows()],
            "notes": self.notes,
            "seconds": sum(r.seconds for r in self.rows),
            "run_id": self.run_id,
        }


def sort_rows(rows: Sequence[ScoreRow], metric: str) -> list[ScoreRow]:
    """Best first by `metric`, ties broken by LogME then kNN; rows where `metric` is undefined (NaN) go last."""

    def score(row: ScoreRow, name: str) -> float:
        value = row.scores.get(name)
        return float("-inf") if value is None or np.isnan(value) else float(value)

    def key(row: ScoreRow) -> tuple[int, float, float, float]:
        value = row.scores.get(metric, float("nan"))
        if value is None or np.isnan(value):
            return (1, 0.0, 0.0, 0.0)
        return (0, -float(value), -score(row, "logme"), -score(row, "knn"))

    return sorted(rows, key=key)


def check_metric(metric: str, task: str = "classification") -> str:
    """`metric` when it is a known score defined for `task`, else a UsageError naming the ones that are."""
    if metric not in METRICS:
        raise UsageError(
            f"unknown transferability metric {metric!r}",
            expected=f"one of {', '.join(METRICS)}",
            fix="pass --metric logme (the default), knn, hscore, transrate, nce or leep",
        )
    usable = get_task(task).transfer_scores
    if not usable:
        raise UsageError(
            f"no transferability score is defined for {task} data",
            expected="classification, multi-label or regression data",
            fix=f"rank backbones on data of those kinds; for {task} data, compare strategies with `headstart study`",
        )
    if metric not in usable:
        raise UsageError(
            f"the {metric} score is defined only for single-label classification, not for {task} data",
            expected=f"a score that works for {task}: {', '.join(usable)}",
            fix=f"pass --metric {usable[0]} (or --metric knn) for {task} data",
        )
    return metric


def resolve_cuts(backbone: Backbone, cuts: str | Sequence[int | str]) -> list[int]:
    """`"last"`, `"all"`, or a list of stage indices (1..n, negative from the end) or stage names → cut indices."""
    n = len(backbone.stages)
    if isinstance(cuts, str):
        if cuts == "last":
            return [n]
        if cuts == "all":
            return list(range(1, n + 1))
        cuts = [c.strip() for c in cuts.split(",") if c.strip()]
    out: list[int] = []
    for cut in cuts:
        text = str(cut)
        if text in backbone.stages:
            value = backbone.stages.index(text) + 1
        elif text.lstrip("-").isdigit():
            value = int(text)
            value = n + 1 + value if value < 0 else value
        else:
            value = -1
        if not 1 <= value <= n:
            raise UsageError(
                f"cut {text!r} does not exist in {backbone.name}",
                expected=f"'last', 'all', stage indices 1..{n} (or -1 for the last) "
                f"or names: {', '.join(backbone.stages)}",
                fix="pass e.g. --cuts all",
            )
        if value not in out:
            out.append(value)
    return sorted(out)


def score_features(
    features: np.ndarray,
    labels: np.ndarray | Sequence[Any],
    source_proba: np.ndarray | None = None,
    metrics: Sequence[str] = METRICS,
    seed: int = 0,
    task: str = "classification",
) -> tuple[dict[str, float], dict[str, float]]:
    """Every requested score on one feature matrix, and the seconds each took (NaN when undefined).

    `labels`: class labels, or for `task="regression"` float targets, for `"multilabel"` an (n, tags) 0/1
    matrix. kNN is accuracy (classification), R² (regression) or micro-F1 (multi-label).
    """
    for metric in metrics:
        check_metric(metric, task)
    y = np.asarray(labels)
    scores: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for metric in metrics:
        t0 = time.perf_counter()
        if metric in SOURCE_HEAD_METRICS and source_proba is None:
            value = float("nan")
        elif metric == "logme":
            value = logme(features, y, task)
        elif metric == "knn" and get_task(task).outputs is Outputs.VALUE:
            value = knn_r2(features, y, seed=seed)
        elif metric == "knn" and get_task(task).outputs is Outputs.TAGS:
            value = knn_micro_f1(features, y, seed=seed)
        elif metric == "knn":
            value = knn_accuracy(features, y, seed=seed)
        elif metric == "hscore":
            value = h_score(features, y)
        elif metric == "transrate":
            value = transrate(features, y)
        elif metric == "nce":
            value = nce(source_proba, y)  # type: ignore[arg-type]
        else:
            value = leep(source_proba, y)  # type: ignore[arg-type]
        scores[metric] = value
        seconds[metric] = time.perf_counter() - t0
    return scores, seconds


def subsample(dataset: Dataset, max_items: int | None, seed: int = 0) -> Dataset:
    """At most `max_items` items, drawn per class in proportion (every class keeps at least 2 when it has them).

    Multi-label data is stratified on each item's rarest tag, regression on the target's quantile bin.
    """
    if max_items is None or len(dataset) <= max_items:
        return dataset
    assert dataset.labels is not None
    rng = np.random.default_rng(seed)
    labels = np.asarray(dataset.strata())
    keep: list[int] = []
    for label in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == label)
        take = max(min(2, len(idx)), int(round(max_items * len(idx) / len(labels))))
        keep.extend(rng.choice(idx, size=min(take, len(idx)), replace=False).tolist())
    return dataset.subset(sorted(keep))


def rank(
    dataset: Dataset,
    backbones: Sequence[str | Backbone],
    cuts: str | Sequence[int | str] = "last",
    *,
    metric: str = "logme",
    metrics: Sequence[str] | None = None,
    store: Any = None,
    threads: int | None = None,
    batch_size: int = 32,
    on_bad: str = "skip",
    progress: bool = False,
    seed: int = 0,
) -> RankResult:
    """Scores of every (backbone, cut) on a labelled dataset, from pooled features cached in the FeatureStore.

    `metrics` defaults to every score defined for the dataset's task kind (its `transfer_scores`).
    """
    from headstart.features import extract_features_at_cuts

    task = dataset.task
    metrics = get_task(task).transfer_scores if metrics is None else metrics
    check_metric(metric, task)
    for m in metrics:
        check_metric(m, task)
    if dataset.labels is None:
        raise UsageError("ranking needs labelled data", expected="a dataset with labels", fix="pass labelled data")
    classes = dataset.classes
    rows: list[ScoreRow] = []
    notes: list[str] = []
    for spec in backbones:
        backbone = get_backbone(spec) if isinstance(spec, str) else spec
        check_modality(backbone, dataset.modality)
        head = backbone.source_head
        extractions = extract_features_at_cuts(  # every cut from one forward pass
            backbone,
            dataset,
            resolve_cuts(backbone, cuts),
            store=store,
            threads=threads,
            batch_size=batch_size,
            on_bad=on_bad,
            progress=progress,
        )
        for cut, x in extractions.items():
            y = _targets([dataset.labels[i] for i in x.kept], task, classes)
            last = cut == len(backbone.stages)
            proba = None
            if head is not None and last:
                proba = softmax(x.features.astype(np.float64) @ head.weight.T + head.bias, axis=1)
            scores, seconds = score_features(x.features, y, proba, metrics, seed=seed, task=task)
            rows.append(
                ScoreRow(
                    backbone=backbone.name,
                    cut=cut,
                    stage=backbone.stages[cut - 1],
                    n_stages=len(backbone.stages),
                    feature_dim=int(x.features.shape[1]),
                    n_items=len(y),
                    scores=scores,
                    extract_seconds=x.seconds,
                    score_seconds=seconds,
                    features_computed=x.n_computed,
                    features_cached=x.n_cached,
                )
            )
        if any(m in metrics for m in SOURCE_HEAD_METRICS):
            if head is None:
                notes.append(f"{backbone.name} has no source head: NCE and LEEP are undefined (NaN)")
            elif any(r.backbone == backbone.name and not r.is_last for r in rows):
                notes.append(f"{backbone.name}: NCE and LEEP exist only at the last cut (the source head's input)")
    return RankResult(rows=rows, metric=metric, n_items=len(dataset), n_classes=len(classes), notes=notes, task=task)


def _targets(labels: Sequence[str], task: str, classes: Sequence[str]) -> np.ndarray:
    """What the scores read: class labels, float targets (regression) or a 0/1 tag matrix (multi-label)."""
    from headstart.tasks import multi_hot, target_values

    outputs = get_task(task).outputs
    if outputs is Outputs.VALUE:
        return target_values(labels)
    if outputs is Outputs.TAGS:
        return multi_hot(labels, classes).astype(np.float64)
    return np.asarray(labels)
