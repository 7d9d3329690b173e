"""A Model made of frozen backbone features (pooled, via ONNX Runtime) and a head on top of them.

Serves the linear probe and zero-shot: both keep the backbone whole and differ only in the head.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from headstart.backbones.base import Backbone
from headstart.data.dataset import Dataset
from headstart.features import Extraction, extract_features
from headstart.strategies.base import DatasetPrediction, Model


class Head(Protocol):
    """A fitted head on pooled features."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...

    def config(self) -> dict[str, Any]: ...

    def state(self) -> dict[str, np.ndarray]: ...


class FeatureHeadModel(Model):
    """Pooled backbone features → head."""

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

    def manifest(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "head": {"type": self.head_type, **self.head.config()}}

    def tensors(self) -> dict[str, np.ndarray]:
        return self.head.state()
