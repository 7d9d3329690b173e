"""A Model made of frozen backbone features (pooled, via ONNX Runtime) and a head on top of them.

Serves the linear probe and zero-shot: both keep the backbone whole and differ only in the head.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from headstart.backbones.base import Backbone
from headstart.data.dataset import Dataset
from headstart.features import Extraction, extract_features
from headstart.manifest import HeadSection, StrategySection
from headstart.strategies.base import DatasetPrediction, Model

if TYPE_CHECKING:  # torch loads only to export (feature_export): predicting runs the cached ONNX graph
    from torch import nn

    from headstart.runtime import FrozenRunner


class FeatureSection(StrategySection):
    """`strategy` of a bundle whose backbone stays whole and frozen (linear, zero-shot)."""

    frozen_stages: list[str] = []
    trainable_stages: list[str] = []


class LinearHeadSection(HeadSection):
    """`head` of a linear head on features (linear, baseline): what `load_task_head` rebuilds it from."""

    C: float | None = None  # logistic / SVM regularisation (chosen by cross-validation when C_search is a grid)
    C_search: list[float] | None = None
    C_source: str | None = None  # expand: "parent" (kept) or "cross-validation"
    class_weight: str | None = None
    temperature: float | None = None  # SVM margins to probabilities
    probabilities: str | None = None
    scaling: str | None = None  # "standard": features standardised with the saved mean and scale
    thresholds: str | None = None  # multi-label: where the per-tag thresholds came from
    alpha: float | None = None  # ridge (regression)
    alpha_search: list[float] | None = None
    selection: str | None = None


class Head(Protocol):
    """A fitted head on pooled features."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...

    def config(self) -> dict[str, Any]: ...

    def state(self) -> dict[str, np.ndarray]: ...


class FeatureHeadModel(Model):
    """Pooled backbone features → head."""

    backbone: Backbone  # always one: the features are its
    _frozen: FrozenRunner | None = None  # the compiled backbone, opened once and reused across calls
    precision: str = "fp32"  # "int8": the quantized backbone (opt-in, set through Predictor.configure)

    def __init__(
        self,
        backbone: Backbone,
        head: Head,
        labels: list[str],
        strategy: dict[str, Any],
        head_type: str,
        threads: int | None = None,
        batch_size: int = 32,
    ) -> None:
        self.backbone = backbone
        self.head = head
        self.labels = labels
        self.strategy = strategy
        self.head_type = head_type
        self.threads = threads
        self.batch_size = batch_size

    def embed_dataset(
        self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False, cache: bool = False
    ) -> Extraction:
        return extract_features(
            self.backbone,
            dataset,
            store=None if cache else False,
            runner=self._run_frozen,
            threads=self.threads,
            batch_size=self.batch_size,
            on_bad=on_bad,
            progress=progress,
        )

    def predict_dataset(
        self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False, cache: bool = False
    ) -> DatasetPrediction:
        x = self.embed_dataset(dataset, on_bad=on_bad, progress=progress, cache=cache)
        if len(x.kept):
            proba = self.head.predict_proba(x.features)
        else:
            proba = np.zeros((0, len(self.labels)))
        return DatasetPrediction(
            proba=proba,
            kept=x.kept,
            labels=self.labels,
            skipped=x.skipped,
            n_cached=x.n_cached,
            n_computed=x.n_computed,
        )

    def sections(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "head": {"type": self.head_type, **self.head.config()}}

    def tensors(self) -> dict[str, np.ndarray]:
        return self.head.state()

    @property
    def frozen_runner(self) -> FrozenRunner | None:
        """The opened frozen network (None before the first prediction): its `running_precision` and `degraded`
        say whether a requested int8 runs, or fell back to fp32 on this CPU."""
        return self._frozen

    def _run_frozen(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Run the frozen backbone; its ONNX session is opened on first use only (0.2 s for MiniLM)."""
        from headstart.runtime import FrozenRunner, default_threads

        threads = self.threads or default_threads()
        if self._frozen is None or self._frozen.threads != threads or self._frozen.precision != self.precision:
            self._frozen = FrozenRunner(self.backbone, threads=threads, precision=self.precision)  # type: ignore[arg-type]
        return self._frozen(inputs)

    def export_module(self) -> nn.Module:
        """Backbone (all stages, pooled) then the head as torch ops: inputs → probabilities."""
        from headstart.runtime_modules import Prefix
        from headstart.strategies.feature_export import FeatureHeadModule, head_module

        prefix = Prefix(self.backbone, len(self.backbone.stages), pooled=True)
        return FeatureHeadModule(prefix, head_module(self.head, self.strategy.get("name", "?"))).eval()
