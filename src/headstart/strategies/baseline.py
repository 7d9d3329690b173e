"""The `baseline` strategy: a classic model without any pretrained network, the yardstick for transfer.

Texts: TF-IDF of word 1-2-grams and char_wb 2-5-grams (sublinear tf) + logistic regression on the sparse
rows. Images: pixels downscaled to 32x32 RGB + `LinearHead`. Multi-label and regression use one-vs-rest
logistic regression / ridge on the same features, unstandardised (see `strategies/task_heads.py`).
The fitted vectorizers are stored as vocabularies (UTF-8 JSON in uint8 arrays) and idf weights, and
rebuilt as `TfidfVectorizer`s on load, so a bundle holds no pickle.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from PIL import Image

from headstart.backbones.base import Backbone
from headstart.batches import text_problem
from headstart.data.dataset import Dataset, Modality, SkippedItem
from headstart.data.images import read_image
from headstart.data.modalities import get_modality
from headstart.errors import BadItemError
from headstart.manifest import StrategySection
from headstart.strategies.audio_baseline import MfccFeatures
from headstart.strategies.base import (
    CrossValidatedStrategy,
    DatasetPrediction,
    FitInputs,
    Model,
    TrainReport,
    class_counts,
    output_labels,
    require_classes,
    require_targets,
)
from headstart.strategies.feature_model import LinearHeadSection
from headstart.strategies.file_features import FileFeatures
from headstart.strategies.linear import LinearHead, as_class_logits
from headstart.strategies.task_heads import load_task_head, task_head
from headstart.tasks import TASKS, Outputs, counts_of, encode_targets, get_task

if TYPE_CHECKING:  # scikit-learn loads on use (a fit, or a baseline bundle), not with the package
    from sklearn.model_selection import StratifiedKFold

    from headstart.manifest import Manifest

PIXEL_SIZE = 32
# Word and char n-gram spaces are capped separately; together at most 100k features.
WORD_PARAMS: dict[str, Any] = {"analyzer": "word", "ngram_range": (1, 2), "max_features": 50_000}
CHAR_PARAMS: dict[str, Any] = {"analyzer": "char_wb", "ngram_range": (2, 5), "max_features": 50_000}
COMMON_PARAMS: dict[str, Any] = {"sublinear_tf": True, "min_df": 1, "lowercase": True, "dtype": np.float64}
# TF-IDF rows are L2-normalised and not standardised, so useful C values are larger than on scaled features.
TEXT_C_GRID = (1.0, 10.0, 100.0)


# ---------------------------------------------------------------- features


class TfidfFeatures:
    """Word + char TF-IDF, fitted on the training texts; state is vocabularies and idf weights."""

    kind = "tfidf"

    def fit(self, texts: list[str]) -> TfidfFeatures:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.word_ = TfidfVectorizer(**WORD_PARAMS, **COMMON_PARAMS).fit(texts)
        self.char_ = TfidfVectorizer(**CHAR_PARAMS, **COMMON_PARAMS).fit(texts)
        return self

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        return sp.hstack([self.word_.transform(texts), self.char_.transform(texts)], format="csr")

    def extract(
        self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False
    ) -> tuple[sp.csr_matrix, np.ndarray, list[SkippedItem]]:
        """Features of every usable text (empty ones were refused when loading; one that is not valid Unicode
        is skipped or refused here, as the network models do)."""
        kept, skipped = [], []
        for i, text in enumerate(dataset.items):
            problem = text_problem(text)
            if problem is None:
                kept.append(i)
            elif on_bad == "fail":
                raise BadItemError(dataset.ids[i], problem)
            else:
                skipped.append(SkippedItem(dataset.ids[i], problem))
        return self.transform([dataset.items[i] for i in kept]), np.asarray(kept, dtype=np.int64), skipped

    def config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "word": _jsonable(WORD_PARAMS) | {"n_features": len(self.word_.vocabulary_)},
            "char": _jsonable(CHAR_PARAMS) | {"n_features": len(self.char_.vocabulary_)},
            **_jsonable({k: v for k, v in COMMON_PARAMS.items() if k != "dtype"}),
            "norm": "l2",
        }

    def state(self) -> dict[str, np.ndarray]:
        out = {}
        for part, vec in (("word", self.word_), ("char", self.char_)):
            terms = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
            out[f"tfidf.{part}.vocab"] = np.frombuffer(json.dumps(terms).encode("utf-8"), dtype=np.uint8).copy()
            out[f"tfidf.{part}.idf"] = np.asarray(vec.idf_, dtype=np.float64)
        return out

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> TfidfFeatures:
        from sklearn.feature_extraction.text import TfidfVectorizer

        features = cls()
        for part, params in (("word", WORD_PARAMS), ("char", CHAR_PARAMS)):
            terms = json.loads(bytes(state[f"tfidf.{part}.vocab"]).decode("utf-8"))
            vocabulary = {t: i for i, t in enumerate(terms)}
            vec = TfidfVectorizer(**{**params, "max_features": None}, **COMMON_PARAMS, vocabulary=vocabulary)
            vec._validate_vocabulary()  # sets vocabulary_ from the fixed vocabulary, as fit would
            vec.idf_ = np.asarray(state[f"tfidf.{part}.idf"], dtype=np.float64)
            setattr(features, f"{part}_", vec)
        return features


class PixelFeatures(FileFeatures):
    """Each image stretched to 32x32 RGB, scaled to [0, 1] and flattened (3072 values)."""

    kind = "pixels"
    dim = 3 * PIXEL_SIZE**2

    def read(self, path: str) -> Any:
        return read_image(path)

    def row(self, decoded: Any) -> np.ndarray:
        return pixels(decoded)

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "size": PIXEL_SIZE, "resize": "stretch", "interpolation": "bilinear", "scale": "0-1"}


# The dense baseline features by kind (a modality's `baseline_features`); TF-IDF is fitted, so it stands apart.
DENSE_FEATURES: dict[str, type[FileFeatures]] = {PixelFeatures.kind: PixelFeatures, MfccFeatures.kind: MfccFeatures}


def pixels(image: Image.Image) -> np.ndarray:
    small = image.resize((PIXEL_SIZE, PIXEL_SIZE), Image.Resampling.BILINEAR)
    return (np.asarray(small, dtype=np.float32) / 255.0).reshape(-1)


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


# ---------------------------------------------------------------- head on sparse TF-IDF rows


class SparseLinearHead(LinearHead):
    """`LinearHead` on sparse TF-IDF rows: no standardisation (centring would densify them), its own C grid."""

    standardise = False

    def _choose_C(self, Xs: Any, y: np.ndarray, folds: StratifiedKFold | None) -> float:
        from sklearn.model_selection import GridSearchCV

        if folds is None:
            return 10.0
        scoring = "neg_log_loss" if self.kind == "logreg" else "accuracy"
        search = GridSearchCV(self._estimator(1.0), {"C": list(TEXT_C_GRID)}, cv=folds, scoring=scoring)
        search.fit(Xs, y)
        return float(search.best_params_["C"])

    def decision_function(self, X: Any) -> np.ndarray:
        self._check_fitted()
        return as_class_logits(np.asarray(X @ self.coef_.T) + self.intercept_)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "C_search": None if self.C is not None else list(TEXT_C_GRID), "scaling": None}


# ---------------------------------------------------------------- model and strategy


class BaselineModel(Model):
    """Hand-made features (TF-IDF or pixels) → linear head; no backbone."""

    def __init__(
        self, features: TfidfFeatures | FileFeatures, head: Any, labels: list[str], modality: Modality
    ) -> None:
        self.features = features
        self.head = head
        self.labels = labels
        self.modality = modality
        self.backbone = None
        self.threads: int | None = None  # accepted from Predictor.configure; nothing to run
        self.batch_size = 32

    def predict_dataset(
        self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False, cache: bool = False
    ) -> DatasetPrediction:
        X, kept, skipped = self.features.extract(dataset, on_bad=on_bad, progress=progress)
        proba = self.head.predict_proba(X) if len(kept) else np.zeros((0, len(self.labels)))
        return DatasetPrediction(proba=proba, kept=kept, labels=self.labels, skipped=skipped, n_computed=len(kept))

    def sections(self) -> dict[str, Any]:
        return {
            "strategy": {"name": BaselineStrategy.name, "features": self.features.config()},
            "head": {
                "type": ("sparse-linear" if not getattr(self.head, "standardise", True) else "linear")
                + ("" if get_task(self.task).outputs is Outputs.CLASSES else f"-{self.task}"),
                **self.head.config(),
            },
        }

    def tensors(self) -> dict[str, np.ndarray]:
        return {**self.head.state(), **self.features.state()}


class BaselineSection(StrategySection):
    """`strategy` of a baseline bundle: the features it computes instead of a backbone's (TF-IDF or pixels)."""

    features: dict[str, Any] = {}


class BaselineStrategy(CrossValidatedStrategy):
    """No transfer: TF-IDF + logistic regression for texts, 32x32 pixels + logistic regression for images."""

    name = "baseline"
    validation_note = "baseline picks C by cross-validation"
    needs_backbone = False
    tasks = TASKS
    description = "classic model without a pretrained network: TF-IDF or 32x32 pixels + logistic regression"
    options = frozenset({"head", "C"})
    study_modalities = frozenset({"image", "text", "audio"})  # the yardstick: does transfer beat a classic model?
    manifest_section = BaselineSection
    head_section = LinearHeadSection

    def _fit(self, inputs: FitInputs) -> BaselineModel:
        config, train = inputs.config, inputs.train
        assert train.labels is not None
        notes = []
        if inputs.backbone is not None or config.backbone is not None:
            notes.append(f"baseline uses no pretrained network: backbone {config.backbone!r} is unused")
        kind = get_modality(train.modality).baseline_features
        features: TfidfFeatures | FileFeatures
        features = TfidfFeatures().fit(list(train.items)) if kind == TfidfFeatures.kind else DENSE_FEATURES[kind]()
        X, kept, skipped = features.extract(train, on_bad=config.on_bad, progress=config.progress)
        if get_task(train.task).outputs is not Outputs.CLASSES:
            return self._fit_task(inputs, features, X, kept, skipped, notes)
        y = np.array([train.labels[i] for i in kept])
        require_classes(y)
        head: LinearHead
        if isinstance(features, TfidfFeatures):
            head = SparseLinearHead(kind=config.head, C=config.C, seed=config.seed).fit(X, y)
        else:
            head = LinearHead(kind=config.head, C=config.C, seed=config.seed).fit(X, y)
        model = BaselineModel(features, head, [str(c) for c in head.classes_], train.modality)
        model.report = TrainReport(
            n_train=len(kept), skipped=skipped, features_computed=len(kept), notes=notes, class_counts=class_counts(y)
        )
        return model

    def _fit_task(
        self,
        inputs: FitInputs,
        features: TfidfFeatures | FileFeatures,
        X: Any,
        kept: np.ndarray,
        skipped: list[SkippedItem],
        notes: list[str],
    ) -> BaselineModel:
        """Multi-label (one-vs-rest logistic regression) or regression (ridge) on the same features."""
        config, train = inputs.config, inputs.train
        assert train.labels is not None
        labels = output_labels(train, config.target)
        kept_labels = [train.labels[i] for i in kept]
        y = encode_targets(kept_labels, train.task, labels)
        require_targets(y, train.task)
        head = task_head(train.task, standardise=False, C=config.C, seed=config.seed)  # TF-IDF rows, pixels in [0,1]
        model = BaselineModel(features, head.fit(X, y), labels, train.modality)
        model.task = train.task
        model.thresholds = getattr(model.head, "thresholds_", None)
        model.report = TrainReport(
            n_train=len(kept),
            skipped=skipped,
            features_computed=len(kept),
            notes=notes,
            class_counts=counts_of(kept_labels, train.task),
        )
        return model

    def load(self, manifest: Manifest, tensors: dict[str, np.ndarray], backbone: Backbone | None) -> BaselineModel:
        labels, modality, task, config = manifest.labels, manifest.modality, manifest.task, manifest.head.to_dict()
        kind = BaselineSection.of(manifest.strategy).features.get("kind")
        sparse = kind == TfidfFeatures.kind
        dense = DENSE_FEATURES.get(str(kind), PixelFeatures)()  # bundles before `kind` was written hold pixels
        if manifest.kind.outputs is not Outputs.CLASSES:
            features = TfidfFeatures.from_state(tensors) if sparse else dense
            head_state = {k: v for k, v in tensors.items() if not k.startswith(("tfidf.", "memory."))}
            model = BaselineModel(features, load_task_head(task, config, head_state), labels, modality)
            model.task = task
            return model
        if sparse:
            text_head = SparseLinearHead.from_state(config, tensors, labels)
            return BaselineModel(TfidfFeatures.from_state(tensors), text_head, labels, modality)
        head = LinearHead.from_state(config, tensors, labels)
        return BaselineModel(dense, head, labels, modality)
