"""partial:K expand: the byte-budgeted activation memory and the balanced head refit, on the tiny backbones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from typer.testing import CliRunner

import headstart
from headstart.backbones.registry import get_backbone
from headstart.cli.main import app
from headstart.config import ExpandConfig, FitConfig
from headstart.data import load_dataset
from headstart.expand import _refit_head
from headstart.features import extract_activations, extract_features
from headstart.strategies import memory as memory_module
from headstart.strategies.finetune import activation_key, build_top
from headstart.strategies.linear import LinearHead
from headstart.strategies.memory import ExemplarMemory, activation_memory, merge_memories, select_within_bytes
from headstart.strategies.training_data import ActivationData
from tests.conftest import make_image_folder, make_text_csv
from tests.expand.helpers import NEW_COLOURS, make_colour_folder

FIT = {"progress": False, "track": False}
QUIET = {"progress": False}


@pytest.fixture(scope="module", autouse=True)
def untracked() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEADSTART_NO_TRACK", "1")
        yield


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("memory-refit")
    return {
        "root": root,
        "old": make_image_folder(root / "old", per_class=12),
        "new": make_colour_folder(root / "new", NEW_COLOURS, per_class=13),
    }


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def _labels(dataset) -> list[str]:
    return list(dataset.classes)


def test_select_within_bytes_holds_the_cap_and_the_per_class_bound() -> None:
    rng = np.random.default_rng(0)
    targets = np.repeat([0, 1, 2], [10, 30, 50])
    pooled = rng.normal(size=(90, 8))
    sizes = rng.integers(100, 1000, size=90)  # ragged, like texts' per-token activations
    assert sorted(select_within_bytes(pooled, targets, None, sizes, int(sizes.sum())).tolist()) == list(range(90))
    for cap in (20_000, 5_000, 700):
        rows = select_within_bytes(pooled, targets, None, sizes, cap)
        assert 0 < sizes[rows].sum() <= cap
        counts = np.bincount(targets[rows], minlength=3)
        assert counts.max() - counts[counts > 0].min() <= max(1, counts.max() // 2)  # class-balanced, not greedy
    bounded = select_within_bytes(pooled, targets, 4, sizes, 10**9)
    assert np.bincount(targets[bounded]).tolist() == [4, 4, 4]


def test_partial_memory_keeps_every_item_within_the_byte_cap(
    folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    backbone = get_backbone("test-cnn")
    cut = len(backbone.stages) - 1
    data = load_dataset(str(folders["old"]))
    labels = _labels(data)
    everything = activation_memory(backbone, data, cut, FitConfig(), labels)
    assert everything is not None and everything.complete and len(everything) == len(data)
    section = everything.manifest(labels)
    assert section["max_bytes"] == memory_module.ACTIVATION_MEMORY_BYTES and section["bytes"] <= section["max_bytes"]
    item = section["bytes"] // len(everything)
    monkeypatch.setattr(memory_module, "ACTIVATION_MEMORY_BYTES", 10 * item)  # room for 10 of the 36 items
    capped = activation_memory(backbone, data, cut, FitConfig(), labels)
    assert capped is not None and not capped.complete
    assert capped.manifest(labels)["bytes"] <= 10 * item
    assert sorted(capped.class_counts(labels).values()) == [3, 3, 3]
    bounded = activation_memory(backbone, data, cut, FitConfig(memory=2), labels)
    assert bounded is not None and set(bounded.class_counts(labels).values()) == {2}
    assert activation_memory(backbone, data, cut, FitConfig(memory=0), labels) is None
    frozen = extract_features(backbone, data, progress=False)  # the whole network, as herding saw it before
    order = np.argsort(frozen.kept)
    np.testing.assert_allclose(np.sort(everything.pooled, axis=0), np.sort(frozen.features[order], axis=0), atol=1e-4)
    merged = merge_memories(everything, bounded, None)  # merging applies the (patched) cap as well
    assert merged is not None and len(merged) <= 10


def test_text_activation_memory_is_ragged_and_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backbone = get_backbone("test-text")
    cut = len(backbone.stages) - 1
    data = load_dataset(str(make_text_csv(tmp_path / "t.csv")))
    labels = _labels(data)
    everything = activation_memory(backbone, data, cut, FitConfig(), labels)
    assert everything is not None and everything.complete
    lengths = {len(v) for v in everything.values}
    assert len(lengths) > 1  # per-token rows: items differ in size
    total = everything.manifest(labels)["bytes"]
    monkeypatch.setattr(memory_module, "ACTIVATION_MEMORY_BYTES", total // 2)
    capped = activation_memory(backbone, data, cut, FitConfig(), labels)
    assert capped is not None and not capped.complete and 0 < len(capped) < len(everything)
    assert capped.manifest(labels)["bytes"] <= total // 2  # labels and lengths included
    loaded = ExemplarMemory.from_bundle(capped.manifest(labels), capped.tensors(), "text")
    assert loaded is not None and [len(v) for v in loaded.values] == [len(v) for v in capped.values]


def test_head_refit_restores_recall_of_an_under_predicted_new_class(folders: dict[str, Path]) -> None:
    """A grown head that under-predicts the new class (the bias of class-incremental training) is repaired by the
    balanced refit, even though the new class has 3 items against 36 old ones."""
    backbone = get_backbone("test-cnn")
    cut = len(backbone.stages) - 1
    key = activation_key(backbone, cut)
    old, new = load_dataset(str(folders["old"])), load_dataset(str(folders["new"]), require_labels=False)
    labels = [*old.classes, "yellow"]
    old_acts = [v[0] for v in extract_activations(backbone, old, cut, progress=False).values]
    new_acts = [v[0] for v in extract_activations(backbone, new, cut, progress=False).values]
    targets = np.array([labels.index(label) for label in old.labels] + [3] * 3)
    data = ActivationData([[v] for v in [*old_acts, *new_acts[:3]]], targets, "image", key)
    held_out = ActivationData([[v] for v in new_acts[3:]], np.full(len(new_acts) - 3, 3), "image", key)

    torch.manual_seed(0)
    student = build_top(backbone, cut, len(labels)).eval()
    with torch.no_grad():
        pooled = torch.cat([student.features(s) for s, _ in data.batches(64, epoch=None, seed=0)]).numpy()
    student.init_head_from(LinearHead(C=1.0, class_weight=None).fit(pooled, np.array(labels)[targets]))
    with torch.no_grad():
        student.head.bias[3] -= 20.0  # the new class's logit sits far below the old ones

    def recall() -> float:
        with torch.no_grad():
            predicted = torch.cat([student(s).argmax(dim=1) for s, _ in held_out.batches(64, epoch=None, seed=0)])
        return float((predicted == 3).float().mean())

    assert recall() < 0.2
    record = _refit_head(student, data, labels, ExpandConfig(out="unused"))
    assert recall() >= 0.9
    assert record["n"] == len(targets) and record["class_weight"] == "balanced"


def test_expand_partial_stores_everything_refits_and_round_trips(folders: dict[str, Path]) -> None:
    root = folders["root"]
    parent = root / "partial"
    headstart.fit(str(folders["old"]), backbone="test-cnn", strategy="partial:1", max_epochs=2, out=str(parent), **FIT)
    section = _manifest(parent)["head"]["memory"]
    assert section["complete"] and section["per_class"] is None and section["bytes"] <= section["max_bytes"]
    counts = _manifest(parent)["data"]["counts"]
    assert section["n"] == 36 - counts["test"]  # every item the fit saw, any validation part included
    assert counts["memory_items"] == section["n"] and counts["memory_bytes"] == section["bytes"]  # also in --json

    refit = root / "refit"
    result = headstart.expand(str(parent), str(folders["new"]), out=str(refit), max_epochs=2, **QUIET)
    child = _manifest(refit)
    assert child["strategy"]["expand"]["head_refit"]["n"] == child["head"]["memory"]["n"]
    assert child["head"]["memory"]["class_counts"]["yellow"] == result.counts["new_items"] - result.counts["test"]
    assert child["parent"]["labels"] == ["blue", "green", "red"] and child["changes"]["added_classes"] == ["yellow"]
    assert any("head refit" in n for n in result.notes)
    assert result.counts["memory_bytes"] == child["head"]["memory"]["bytes"] <= child["head"]["memory"]["max_bytes"]
    tensors = load_file(str(refit / "head.safetensors"))
    assert tensors["memory.activations"].dtype == np.float16
    loaded = headstart.load(refit)
    items = sorted(str(p) for p in (folders["new"] / "yellow").iterdir())
    assert np.mean([label == "yellow" for label in loaded.predict(items)]) >= 0.8
    old_items = sorted(str(p) for c in ("blue", "green", "red") for p in (folders["old"] / c).iterdir())
    expected = [Path(p).parent.name for p in old_items]
    assert np.mean([a == b for a, b in zip(loaded.predict(old_items), expected, strict=True)]) >= 0.9

    plain = root / "plain"
    args = ["expand", str(parent), str(folders["new"]), "--out", str(plain), "--max-epochs", "2", "--no-head-refit"]
    res = CliRunner().invoke(app, [*args, "--json", "--no-track"])
    assert res.exit_code == 0, res.output
    assert _manifest(plain)["strategy"]["expand"]["head_refit"] is None
    assert json.loads(res.stdout)["counts"]["memory_bytes"] == _manifest(plain)["head"]["memory"]["bytes"]
