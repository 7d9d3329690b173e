"""The seam, proved: a new modality ("tabular-vector": rows of numbers) and a new task kind ("ordinal") are added
here by registering one object each (plus a backbone for the modality), with no edit anywhere else, and
fit, predict and evaluate work for them through the public API."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import headstart
from headstart.backbones.base import BackboneInfo, State
from headstart.backbones.registry import _REGISTRY, register_backbone
from headstart.backbones.staged import StagedBackbone, StagedNet, describe, eval_frozen
from headstart.data.dataset import Dataset
from headstart.data.modalities import register_modality, unregister_modality
from headstart.data.modalities.base import Modality
from headstart.errors import BadItemError, UsageError
from headstart.metrics import ClassificationReport
from headstart.tasks import register_task
from headstart.tasks.base import unregister_task
from headstart.tasks.kinds import Classification

LEVELS = ["low", "mid", "high"]  # ordered
WIDTH = 3


class VectorModality(Modality):
    """Items are rows of numbers ("0.1 2 3"), read from a `.vec` file of `label<TAB>numbers` lines."""

    name = "tabular-vector"
    noun = "row"
    default_backbone = "test-vector"
    accepts_texts = False

    def decode(self, item: str) -> Any:
        try:
            row = np.array([float(x) for x in item.split()], dtype=np.float32)
        except ValueError:
            raise BadItemError(item, "not a row of numbers") from None
        if row.shape != (WIDTH,):
            raise BadItemError(item, f"{row.size} numbers, expected {WIDTH}")
        return row

    def claims(self, path: Path) -> bool:
        return path.suffix == ".vec"

    def load(self, path: Path, **options: Any) -> Dataset:
        lines = [line.split("\t") for line in path.read_text().splitlines() if line.strip()]
        task = options.get("task", "auto")
        return Dataset(
            modality=self.name,
            items=tuple(numbers for _, numbers in lines),
            ids=tuple(f"row {n}" for n in range(1, len(lines) + 1)),
            labels=tuple(label for label, _ in lines),
            source=str(path),
            task="classification" if task == "auto" else task,
        )

    def load_inputs(self, inputs: Sequence[str], *, text_column: str | None, on_bad: str) -> Dataset | None:
        return Dataset(modality=self.name, items=tuple(inputs), ids=tuple(inputs))


class _Identity(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(WIDTH, WIDTH, bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(WIDTH))

    def forward(self, state: State) -> State:
        return {"vector": self.linear(state["vector"])}


VECTOR_INFO = BackboneInfo(
    name="test-vector",
    modality="tabular-vector",
    params=WIDTH * WIDTH,
    feature_dim=WIDTH,
    input_size=WIDTH,
    license="MIT",
    description="identity on rows of numbers (tests)",
    source="tests",
)


class VectorBackbone(StagedBackbone):
    """One identity stage: the features are the row itself."""

    name = "test-vector"
    modality = "tabular-vector"
    feature_dim = WIDTH
    input_size = WIDTH
    license = "MIT"
    activation_key = "vector"
    onnx_exporter = "torchscript"

    def __init__(self) -> None:
        self._net = eval_frozen(StagedNet(["identity"], [_Identity()]))
        self._info = VECTOR_INFO

    @property
    def input_names(self) -> list[str]:
        return ["vector"]

    def example_inputs(self, batch: int = 2) -> dict[str, np.ndarray]:
        return {"vector": np.random.default_rng(0).standard_normal((batch, WIDTH)).astype(np.float32)}

    def preprocess(self, items: Sequence[Any]) -> dict[str, np.ndarray]:
        rows = [np.asarray(item, dtype=np.float32) for item in items]
        return {"vector": np.stack(rows) if rows else np.zeros((0, WIDTH), np.float32)}

    def preprocess_config(self) -> dict[str, Any]:
        return describe(kind="vector", width=WIDTH)

    def pool(self, state: State) -> torch.Tensor:
        return state["vector"]


@dataclass
class OrdinalReport(ClassificationReport):
    """Classification metrics plus the mean distance between the true and the predicted level."""

    mean_level_error: float = 0.0
    task = "ordinal"

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, **super().to_dict(), "mean_level_error": self.mean_level_error}

    def summary(self) -> dict[str, float]:
        return {**super().summary(), "mean_level_error": self.mean_level_error}


class Ordinal(Classification):
    """Ordered classes: scored by accuracy and by how many levels a prediction is off."""

    name = "ordinal"
    description = "ordered levels"
    supports = frozenset()

    def report(
        self, y_true: Sequence[str], outputs: np.ndarray, labels: list[str], thresholds: np.ndarray | None = None
    ) -> OrdinalReport:
        base = super().report(y_true, outputs, labels, thresholds)
        rank = {label: LEVELS.index(label) for label in labels}
        predicted = [labels[j] for j in outputs.argmax(axis=1)]
        error = float(np.mean([abs(rank[t] - rank[p]) for t, p in zip(y_true, predicted, strict=True)]))
        return OrdinalReport(**vars(base), mean_level_error=error)


@pytest.fixture
def registered() -> Iterator[None]:
    register_modality(VectorModality())
    register_task(Ordinal())
    register_backbone("test-vector", VectorBackbone, VECTOR_INFO, test=True)
    yield
    unregister_modality("tabular-vector")
    unregister_task("ordinal")
    _REGISTRY.pop("test-vector", None)


def _rows(path: Path, per_level: int = 12, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines = []
    for level, label in enumerate(LEVELS):
        for _ in range(per_level):
            row = rng.normal(0, 0.3, WIDTH) + level * 2.0
            lines.append(label + "\t" + " ".join(f"{x:.4f}" for x in row))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_registered_modality_and_task_fit_predict_and_evaluate(registered: None, tmp_path: Path) -> None:
    data = _rows(tmp_path / "levels.vec")
    fitted = headstart.fit(str(data), task="ordinal", out=str(tmp_path / "model"), progress=False, track=False)
    assert fitted.task == "ordinal" and fitted.modality == "tabular-vector"
    assert fitted.to_dict()["task"] == "ordinal" and "mean_level_error" in fitted.metrics

    predictor = headstart.load(fitted.bundle)
    assert predictor.task == "ordinal" and predictor.modality == "tabular-vector"
    assert predictor.backbone is not None and predictor.backbone.name == "test-vector"
    assert predictor.predict(["0 0 0", "4 4 4.2"]) == ["low", "high"]

    answered = headstart.predict(fitted.bundle, ["2 2 2"])
    assert answered.predictions[0].label == "mid"

    evaluated = headstart.evaluate(fitted.bundle, str(_rows(tmp_path / "more.vec", seed=1)))
    assert evaluated.to_dict()["task"] == "ordinal" and evaluated.to_dict()["modality"] == "tabular-vector"
    assert evaluated.accuracy is not None and evaluated.accuracy > 0.9
    assert evaluated.report.summary()["mean_level_error"] < 0.1


def test_commands_built_for_classes_refuse_the_new_kind(registered: None, tmp_path: Path) -> None:
    fitted = headstart.fit(str(_rows(tmp_path / "levels.vec")), task="ordinal", out=str(tmp_path / "m"),
                           progress=False, track=False)  # fmt: skip
    with pytest.raises(UsageError, match="does not support ordinal"):
        headstart.expand(fitted.bundle, str(_rows(tmp_path / "new.vec")), out=str(tmp_path / "grown"), track=False)
