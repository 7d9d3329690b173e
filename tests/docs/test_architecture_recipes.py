"""docs/architecture.md's recipes run as written: a backbone, a task kind, a modality and a strategy, each
registered by the doc's own code, then fitted, saved, loaded and used through the public API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import headstart
from headstart.backbones import registry as backbone_registry
from headstart.data import load_dataset
from headstart.data.modalities import unregister_modality
from headstart.errors import StrategyError, UsageError
from headstart.strategies import registry as strategy_registry
from headstart.tasks.base import unregister_task
from tests.conftest import make_image_folder

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
RECIPES = ("A backbone", "A task kind", "A modality", "A strategy")


def recipe(title: str) -> str:
    """The Python block under `### <title>` in the doc."""
    section = DOC.read_text().split(f"### {title}\n", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, f"expected one python block under '### {title}'"
    return blocks[0]


def run_recipe(title: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"architecture_recipe_{title.split()[-1]}"}
    exec(compile(recipe(title), f"{DOC}:{title}", "exec"), namespace)
    return namespace


def test_every_recipe_has_one_block() -> None:
    assert [bool(recipe(title)) for title in RECIPES] == [True] * len(RECIPES)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "images", per_class=8)


@pytest.fixture
def tiny_cnn() -> Iterator[dict[str, Any]]:
    namespace = run_recipe("A backbone")
    yield namespace
    backbone_registry._REGISTRY.pop("tiny-cnn", None)
    for key in [k for k in backbone_registry._INSTANCES if k.startswith("tiny-cnn")]:
        backbone_registry._INSTANCES.pop(key)


@pytest.mark.parametrize("strategy", ["linear", "partial:1"])
def test_the_backbone_recipe_fits_and_reloads(tiny_cnn: dict[str, Any], images: Path, tmp_path: Path,
                                              strategy: str) -> None:  # fmt: skip
    assert "tiny-cnn" in [b.name for b in headstart.list_backbones()]
    fitted = headstart.fit(images, backbone="tiny-cnn", strategy=strategy, max_epochs=2, out=str(tmp_path / "m"),
                           progress=False, track=False)  # fmt: skip
    predictor = headstart.load(fitted.bundle)
    assert predictor.backbone is not None and predictor.backbone.name == "tiny-cnn"
    assert set(predictor.predict(sorted(map(str, (images / "red").iterdir())))) <= {"red", "green", "blue"}


def test_the_task_recipe_is_a_task_fit_knows(images: Path, tmp_path: Path) -> None:
    try:
        run_recipe("A task kind")
        fitted = headstart.fit(images, task="ordinal", backbone="test-cnn", out=str(tmp_path / "m"), progress=False,
                               track=False)  # fmt: skip
        assert fitted.to_dict()["task"] == "ordinal"
        assert headstart.load(fitted.bundle).task == "ordinal"
        with pytest.raises(UsageError, match="does not support ordinal"):
            headstart.expand(fitted.bundle, images, out=str(tmp_path / "grown"), track=False)
    finally:
        unregister_task("ordinal")


def _rows(path: Path) -> Path:
    rng = np.random.default_rng(0)
    lines = [f"{label}\t" + " ".join(f"{v:.3f}" for v in rng.normal(level * 2.0, 0.3, 3))
             for level, label in enumerate(["low", "mid", "high"]) for _ in range(10)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_modality_recipe_reads_decodes_and_fits_with_a_backbone_of_its_own(tmp_path: Path) -> None:
    from tests.tasks.test_new_kinds import VECTOR_INFO, VectorBackbone

    try:
        run_recipe("A modality")
        data = _rows(tmp_path / "levels.vec")
        dataset = load_dataset(data)
        assert (dataset.modality, len(dataset), dataset.classes) == ("tabular-vector", 30, ["high", "low", "mid"])
        backbone_registry.register_backbone("test-vector", VectorBackbone, VECTOR_INFO, test=True)
        fitted = headstart.fit(data, out=str(tmp_path / "m"), progress=False, track=False)
        assert fitted.to_dict()["modality"] == "tabular-vector" and fitted.backbone == "test-vector"
        assert fitted.metrics["accuracy"] > 0.8
    finally:
        unregister_modality("tabular-vector")
        backbone_registry._REGISTRY.pop("test-vector", None)
        backbone_registry._INSTANCES.pop("test-vector", None)


def test_the_strategy_recipe_fits_saves_loads_and_refuses_export(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = run_recipe("A strategy")
    monkeypatch.setitem(strategy_registry._STRATEGIES, "centroid", namespace["CentroidStrategy"]())
    fitted = headstart.fit(images, strategy="centroid", backbone="test-cnn", out=str(tmp_path / "m"),
                           progress=False, track=False)  # fmt: skip
    assert fitted.metrics["accuracy"] > 0.8
    predictor = headstart.load(fitted.bundle)
    red = sorted(map(str, (images / "red").iterdir()))
    assert predictor.predict(red).count("red") >= len(red) - 1
    with pytest.raises(StrategyError, match="export is not supported"):
        headstart.export(fitted.bundle, out=str(tmp_path / "model.onnx"))
