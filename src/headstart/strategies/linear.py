"""The linear strategy's head: a scikit-learn linear model on frozen features, stored as plain arrays.

`LinearHead` follows the estimator contract (constructor stores options, `fit` learns, learned state
ends in `_`). After fitting it keeps only arrays (scaler, coefficients, calibration temperature), so
a bundle stores it in safetensors and prediction needs no pickle and no scikit-learn object.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
from scipy.special import log_softmax, softmax

from headstart.backbones.base import Backbone
from headstart.errors import UsageError
from headstart.features import extract_features
from headstart.strategies.base import (
    CrossValidatedStrategy,
    FitInputs,
    TrainReport,
    class_counts,
    output_labels,
    require_classes,
    require_targets,
)
from headstart.strategies.feature_model import FeatureHeadModel, FeatureSection, LinearHeadSection
from headstart.strategies.memory import FEATURE_MEMORY, feature_memory, memory_bytes, memory_size
from headstart.strategies.regularisation import small_problem_threads
from headstart.strategies.standardise import fit_standardiser, standardised
from headstart.strategies.task_heads import load_task_head, task_head
from headstart.strategies.text_prior import text_prior, unused_prompts_note
from headstart.tasks import TASKS, Outputs, counts_of, encode_targets, get_task

if TYPE_CHECKING:  # scikit-learn is imported where a head is fitted: loading a bundle to predict needs none
    from sklearn.model_selection import StratifiedKFold

    from headstart.manifest import Manifest

HeadKind = Literal["logreg", "svm"]
HEAD_KINDS: tuple[str, ...] = ("logreg", "svm")
C_GRID = (0.01, 0.1, 1.0)
MIN_PER_CLASS_FOR_CV = 3
MAX_FOLDS = 3


class LinearHead:
    """Logistic regression (default) or linear SVM on standardised features.

    `C=None` picks the regularisation by stratified cross-validation when every class has at least
    three examples (otherwise C=1). `class_weight="balanced"` counters imbalance.
    """

    standardise = True  # subclasses on sparse rows turn it off (centring would densify them)

    def __init__(
        self,
        kind: HeadKind = "logreg",
        C: float | None = None,
        class_weight: str | None = "balanced",
        seed: int = 0,
        max_iter: int = 2000,
    ) -> None:
        self.kind = kind
        self.C = C
        self.class_weight = class_weight
        self.seed = seed
        self.max_iter = max_iter

    def _estimator(self, C: float) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        if self.kind == "logreg":
            return LogisticRegression(
                C=C, class_weight=self.class_weight, max_iter=self.max_iter, random_state=self.seed
            )
        if self.kind == "svm":
            return LinearSVC(C=C, class_weight=self.class_weight, max_iter=self.max_iter, random_state=self.seed)
        raise UsageError(
            f"unknown linear head {self.kind!r}",
            expected=f"one of {', '.join(HEAD_KINDS)}",
            fix="pass --head logreg (default) or --head svm",
        )

    def fit(self, X: Any, y: np.ndarray | list[str]) -> Self:
        from sklearn.exceptions import ConvergenceWarning

        y = np.asarray(y)
        self.classes_ = np.array(sorted(set(y.tolist())))
        if len(self.classes_) < 2:
            raise UsageError(
                "a linear head needs at least 2 classes",
                expected="examples of 2 or more classes",
                fix="add examples of another class",
            )
        Xs = X
        if self.standardise:  # float32 features stay float32: half the memory traffic in every solver step
            self.mean_, self.scale_ = fit_standardiser(X)
            Xs = standardised(X, self.mean_, self.scale_)
        folds = self._folds(y)
        with warnings.catch_warnings(), small_problem_threads(Xs):
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.C_ = self.C if self.C is not None else self._choose_C(Xs, y, folds)
            model = self._estimator(self.C_).fit(Xs, y)
            self.coef_ = np.asarray(model.coef_, dtype=np.float32)
            self.intercept_ = np.asarray(model.intercept_, dtype=np.float32).reshape(-1)
            self.temperature_ = self._calibrate(Xs, y, folds) if self.kind == "svm" else 1.0
        return self

    def _folds(self, y: np.ndarray) -> StratifiedKFold | None:
        from sklearn.model_selection import StratifiedKFold

        smallest = min(np.unique(y, return_counts=True)[1])
        if smallest < MIN_PER_CLASS_FOR_CV:
            return None
        return StratifiedKFold(n_splits=min(MAX_FOLDS, smallest), shuffle=True, random_state=self.seed)

    def _choose_C(self, Xs: np.ndarray, y: np.ndarray, folds: StratifiedKFold | None) -> float:
        """Cross-validated C; logistic regression walks the grid with warm starts (several times faster)."""
        if folds is None:
            return 1.0
        scores = np.zeros(len(C_GRID))
        for train, held_out in folds.split(Xs, y):
            model = self._estimator(C_GRID[0])
            if self.kind == "logreg":
                model.set_params(warm_start=True)
            for j, C in enumerate(C_GRID):
                model.set_params(C=C).fit(Xs[train], y[train])
                scores[j] += self._score(model, Xs[held_out], y[held_out])
        return float(C_GRID[int(np.argmax(scores))])

    def _score(self, model: Any, X: np.ndarray, y: np.ndarray) -> float:
        from sklearn.metrics import log_loss

        if self.kind == "logreg":
            return -float(log_loss(y, model.predict_proba(X), labels=model.classes_))
        return float((model.predict(X) == y).mean())

    def _calibrate(self, Xs: np.ndarray, y: np.ndarray, folds: StratifiedKFold | None) -> float:
        """Temperature for turning SVM margins into probabilities, fitted on out-of-fold margins."""
        from scipy.optimize import minimize_scalar
        from sklearn.model_selection import cross_val_predict

        if folds is None:
            return 1.0
        margins = cross_val_predict(self._estimator(self.C_), Xs, y, cv=folds, method="decision_function")
        logits = as_class_logits(np.asarray(margins))
        target = np.searchsorted(self.classes_, y)

        def nll(log_t: float) -> float:
            return -float(log_softmax(logits / np.exp(log_t), axis=1)[np.arange(len(y)), target].mean())

        return float(np.exp(minimize_scalar(nll, bounds=(-5, 5), method="bounded").x))

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """One logit per class, shape (N, n_classes)."""
        self._check_fitted()
        Xs = standardised(X, self.mean_, self.scale_)
        return as_class_logits(Xs @ self.coef_.T + self.intercept_)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return softmax(self.decision_function(X) / self.temperature_, axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("LinearHead is not fitted yet: call fit(X, y) first")

    def config(self) -> dict[str, Any]:
        """Hyperparameters and learned scalars, for the bundle manifest."""
        return {
            "kind": self.kind,
            "C": self.C_,
            "C_search": None if self.C is not None else list(C_GRID),
            "class_weight": self.class_weight,
            "temperature": self.temperature_,
            "probabilities": "calibrated by temperature on out-of-fold margins" if self.kind == "svm" else "logistic",
        }

    def state(self) -> dict[str, np.ndarray]:
        """Learned arrays, for safetensors."""
        self._check_fitted()
        scaling = {"mean": self.mean_, "scale": self.scale_} if self.standardise else {}
        return {**scaling, "coef": self.coef_, "intercept": self.intercept_}

    @classmethod
    def from_state(cls, config: dict[str, Any], state: dict[str, np.ndarray], classes: list[str]) -> Self:
        head = cls(kind=config["kind"], C=config["C"], class_weight=config.get("class_weight"))
        head.classes_ = np.array(classes)
        head.C_ = config["C"]
        head.temperature_ = float(config.get("temperature", 1.0))
        if head.standardise:
            head.mean_, head.scale_ = state["mean"], state["scale"]
        head.coef_, head.intercept_ = state["coef"], state["intercept"]
        return head


def as_class_logits(scores: np.ndarray) -> np.ndarray:
    """Binary models give one score per row; expand to two logits (negative class, positive class)."""
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.shape[1] == 1:
        return np.concatenate([np.zeros_like(scores), scores], axis=1)
    return scores


class LinearStrategy(CrossValidatedStrategy):
    """Feature extraction: the whole backbone frozen, a linear head trained on its pooled features."""

    name = "linear"
    validation_note = "linear picks C by cross-validation"
    description = "frozen backbone features + logistic regression / linear SVM (ridge, one-vs-rest for other tasks)"
    tasks = TASKS
    options = frozenset({"head", "C"})
    image_options = frozenset({"prompt_templates"})  # the text prior of an image-text backbone
    expansion = "feature-head"
    study_modalities = frozenset({"image", "text", "audio"})
    manifest_section = FeatureSection
    head_section = LinearHeadSection

    def _fit(self, inputs: FitInputs) -> FeatureHeadModel:
        config, backbone = inputs.config, inputs.backbone
        assert backbone is not None
        x = extract_features(
            backbone,
            inputs.train,
            threads=config.threads,
            batch_size=config.batch_size,
            on_bad=config.on_bad,
            progress=config.progress,
        )
        assert inputs.train.labels is not None
        if get_task(inputs.train.task).outputs is not Outputs.CLASSES:
            return self._fit_task(inputs, backbone, x)
        y = np.array([inputs.train.labels[i] for i in x.kept])
        require_classes(y)
        from headstart.strategies.centroid import CentroidHead, centroid_note, wants_centroids

        centroids = wants_centroids(backbone, y)
        prior = None if centroids else text_prior(backbone, x.features, y, config.prompt_templates)
        used = prior is not None and prior.aligned  # the prompts classify the labelled items better than chance
        features, targets = prior.extend(x.features, y) if used and prior is not None else (x.features, y)
        head = (CentroidHead() if centroids else LinearHead(kind=config.head, C=config.C, seed=config.seed)).fit(
            features, targets
        )
        model = self._model(backbone, head, config.threads, config.batch_size)  # type: ignore[arg-type]
        if prior is not None:
            model.strategy["text_prior"] = prior.manifest()
        per_class = memory_size(config.memory, FEATURE_MEMORY)
        model.memory = feature_memory(x.features, y, model.labels, per_class, memory_bytes(config.memory_mb))
        notes = [centroid_note(backbone, y)] if centroids else [prior.note()] if prior is not None else []
        if prior is None and config.prompt_templates is not None:
            notes.append(unused_prompts_note())
        model.report = TrainReport(
            n_train=len(x.kept),
            skipped=x.skipped,
            features_cached=x.n_cached,
            features_computed=x.n_computed,
            class_counts=class_counts(y),
            notes=notes,
        )
        return model

    def _fit_task(self, inputs: FitInputs, backbone: Backbone, x: Any) -> FeatureHeadModel:
        """Multi-label (one-vs-rest logistic regression, tuned thresholds) or regression (ridge)."""
        config, train = inputs.config, inputs.train
        assert train.labels is not None
        labels = output_labels(train, config.target)
        kept = [train.labels[i] for i in x.kept]
        y = encode_targets(kept, train.task, labels)
        require_targets(y, train.task)
        head = task_head(train.task, C=config.C, seed=config.seed).fit(x.features, y)
        strategy = {"name": self.name, "frozen_stages": list(backbone.stages), "trainable_stages": []}
        kind = "linear-" + train.task
        model = FeatureHeadModel(backbone, head, labels, strategy, kind, config.threads, config.batch_size)
        model.task = train.task
        model.thresholds = getattr(head, "thresholds_", None)
        model.report = TrainReport(
            n_train=len(x.kept),
            skipped=x.skipped,
            features_cached=x.n_cached,
            features_computed=x.n_computed,
            class_counts=counts_of(kept, train.task),
        )
        return model

    def _model(
        self, backbone: Backbone, head: LinearHead, threads: int | None = None, batch_size: int = 32
    ) -> FeatureHeadModel:
        strategy = {"name": self.name, "frozen_stages": list(backbone.stages), "trainable_stages": []}
        labels = [str(c) for c in head.classes_]
        return FeatureHeadModel(backbone, head, labels, strategy, "linear", threads, batch_size)

    def load(self, manifest: Manifest, tensors: dict[str, np.ndarray], backbone: Backbone | None) -> FeatureHeadModel:
        assert backbone is not None
        task, config = manifest.task, manifest.head.to_dict()
        if manifest.kind.outputs is not Outputs.CLASSES:
            tensors = {k: v for k, v in tensors.items() if not k.startswith("memory.")}
            head = load_task_head(task, config, tensors)
            model = FeatureHeadModel(backbone, head, manifest.labels, manifest.strategy.to_dict(), "linear-" + task)
            model.task = task
            return model
        head = LinearHead.from_state(config, tensors, manifest.labels)
        return self._model(backbone, head)
