"""partial:K expand: the byte-budgeted activation memory and the balanced head refit, on the tiny backbones."""

from __future__ import annotations

import json
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
from headstart.errors import HeadstartError
from headstart.features import extract_activations, extract_features
from headstart.services.expand.head import pooled_features, refit_head
from headstart.strategies import memory as memory_module
from headstart.strategies.finetune import build_top
from headstart.strategies.linear import LinearHead
from headstart.strategies.memory import ExemplarMemory, activation_memory, merge_memories, select_within_bytes
from headstart.strategies.training_data import ActivationData, activation_key
from tests.conftest import make_image_folder, make_text_csv
from tests.services.expand.helpers import NEW_COLOURS, make_colour_folder

FIT = {"progress": False, "track": False}
QUIET = {"progress": False}


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


def _assert_knows_new_and_old(bundle: Path, folders: dict[str, Path]) -> None:
    """The saved bundle, reloaded, predicts the new class (yellow) and still the three old ones."""
    loaded = headstart.load(bundle)
    items = sorted(str(p) for p in (folders["new"] / "yellow").iterdir())
    assert np.mean([label == "yellow" for label in loaded.predict(items)]) >= 0.8
    old_items = sorted(str(p) for c in ("blue", "green", "red") for p in (folders["old"] / c).iterdir())
    expected = [Path(p).parent.name for p in old_items]
    assert np.mean([a == b for a, b in zip(loaded.predict(old_items), expected, strict=True)]) >= 0.9


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
    merged = merge_memories(everything, bounded, None, 10 * item)  # merging applies a given cap as well ...
    assert merged is not None and len(merged) <= 10
    kept = merge_memories(capped, bounded, None)  # ... and otherwise the old memory's
    assert kept is not None and kept.max_bytes == capped.max_bytes == 10 * item and len(kept) <= 10


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
    pooled_t, targets_t = pooled_features(student, data, 64, 0)
    record = refit_head(student, pooled_t, targets_t, labels, ExpandConfig(out="unused"))
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
    _assert_knows_new_and_old(refit, folders)

    plain = root / "plain"
    args = ["expand", str(parent), str(folders["new"]), "--out", str(plain), "--max-epochs", "2", "--no-head-refit"]
    res = CliRunner().invoke(app, [*args, "--json", "--no-track"])
    assert res.exit_code == 0, res.output
    assert _manifest(plain)["strategy"]["expand"]["head_refit"] is None
    assert json.loads(res.stdout)["counts"]["memory_bytes"] == _manifest(plain)["head"]["memory"]["bytes"]


def test_head_only_keeps_the_parents_stages_and_adds_the_new_class(folders: dict[str, Path]) -> None:
    """--head-only: no gradient phase, so every stage weight equals the parent's; the refit head alone must learn
    the new class, keep the old ones, and the bundle must record it and round-trip."""
    root = folders["root"]
    parent = root / "partial-for-head-only"
    headstart.fit(str(folders["old"]), backbone="test-cnn", strategy="partial:1", max_epochs=2, out=str(parent), **FIT)
    child_path = root / "head-only"
    args = ["expand", str(parent), str(folders["new"]), "--out", str(child_path), "--head-only"]
    res = CliRunner().invoke(app, [*args, "--json", "--no-track"])
    assert res.exit_code == 0, res.output
    child = _manifest(child_path)
    record = child["strategy"]["expand"]
    assert record["head_only"] is True and record["epochs_run"] == 0 and child["history"] == []
    assert record["head_refit"]["n"] == child["head"]["memory"]["n"]  # stored old items + the new training items
    before, after = load_file(str(parent / "head.safetensors")), load_file(str(child_path / "head.safetensors"))
    stages = [k for k in before if k.startswith("stages.")]
    assert stages and all(np.array_equal(before[k], after[k]) for k in stages)
    assert after["head.weight"].shape[0] == 4 and not np.array_equal(after["head.weight"][:3], before["head.weight"])
    assert json.loads(res.stdout)["metrics"]["old_class_exemplars"]["accuracy"] >= 0.9

    _assert_knows_new_and_old(child_path, folders)


def test_head_only_is_the_default_unless_a_training_option_is_given(folders: dict[str, Path]) -> None:
    root = folders["root"]
    parent = root / "partial-for-head-only"  # fitted by the test above
    if not parent.exists():
        headstart.fit(
            str(folders["old"]), backbone="test-cnn", strategy="partial:1", max_epochs=2, out=str(parent), **FIT
        )
    default = headstart.expand(str(parent), str(folders["new"]), out=str(root / "default"), **QUIET)
    assert "head only" in default.method and _manifest(root / "default")["strategy"]["expand"]["head_only"] is True
    tuned = headstart.expand(str(parent), str(folders["new"]), out=str(root / "tuned"), max_epochs=1, **QUIET)
    assert "distillation" in tuned.method and _manifest(root / "tuned")["strategy"]["expand"]["epochs_run"] == 1
    args = ["expand", str(parent), str(folders["new"]), "--out", str(root / "tuned-cli"), "--tune-stages"]
    res = CliRunner().invoke(app, [*args, "--json", "--no-track"])
    assert res.exit_code == 0, res.output
    assert "distillation" in json.loads(res.stdout)["method"]
    with pytest.raises(HeadstartError, match="--max-epochs") as err:
        headstart.expand(str(parent), str(folders["new"]), out=str(root / "x"), head_only=True, max_epochs=1)
    assert "--tune-stages" in (err.value.fix or "")


def test_head_only_bounds_new_items_like_the_stored_ones(folders: dict[str, Path]) -> None:
    """With `fit --memory 2`, the head is fitted on 2 herded items of every class, old and new alike (a few old
    items beside every new one skew the boundary towards the new classes), and the new memory keeps the same."""
    root = folders["root"]
    parent = root / "partial-memory-2"
    headstart.fit(
        str(folders["old"]), backbone="test-cnn", strategy="partial:1", max_epochs=1, memory=2, out=str(parent), **FIT
    )
    result = headstart.expand(str(parent), str(folders["new"]), out=str(root / "bounded"), **QUIET)
    child = _manifest(root / "bounded")
    assert result.counts["new_items"] - result.counts["test"] > 2
    assert child["strategy"]["expand"]["head_refit"]["n"] == 8
    assert child["head"]["memory"]["class_counts"] == {"blue": 2, "green": 2, "red": 2, "yellow": 2}


def test_head_only_needs_stored_activations(folders: dict[str, Path]) -> None:
    root = folders["root"]
    parent = root / "partial-no-memory"
    headstart.fit(
        str(folders["old"]), backbone="test-cnn", strategy="partial:1", max_epochs=1, memory=0, out=str(parent), **FIT
    )
    with pytest.raises(HeadstartError, match="--head-only"):
        headstart.expand(str(parent), str(folders["new"]), out=str(root / "x"), head_only=True, allow_forgetting=True)


def test_expand_trains_the_head_even_when_the_strategy_groups_leave_it_out() -> None:
    """contrastive's groups hold only stages (its head is fitted afterwards); expand's training must add the head."""
    from headstart.services.expand.tune import with_head
    from headstart.strategies.contrastive import ContrastiveStrategy
    from headstart.strategies.finetune import PartialStrategy

    backbone = get_backbone("test-cnn")
    top = build_top(backbone, 1, 4)
    head = {id(p) for p in top.head.parameters()}

    def ids(groups: list[dict]) -> list[int]:
        return [id(p) for g in groups for p in g["params"]]

    contrastive = with_head(ContrastiveStrategy().param_groups(top, 1e-3, 10.0), top, 1e-3)
    assert head <= set(ids(contrastive)) and len(ids(contrastive)) == len(set(ids(contrastive)))
    assert contrastive[-1]["name"] == "head" and contrastive[-1]["lr"] == 1e-3
    partial_groups = PartialStrategy().param_groups(top, 1e-3, 10.0)
    assert with_head(partial_groups, top, 1e-3) == partial_groups  # the head is already there: nothing added


def test_memory_mb_caps_the_bundle_and_expand_keeps_or_changes_it(folders: dict[str, Path]) -> None:
    """`fit --memory-mb` bounds the stored exemplars; `expand` keeps the parent's cap unless given `--memory-mb`."""
    root = folders["root"] / "memory-mb"
    full = headstart.fit(str(folders["old"]), backbone="test-cnn", strategy="linear", out=str(root / "all"), **FIT)
    section = _manifest(root / "all")["head"]["memory"]
    assert section["complete"] and full.counts["memory_items"] == section["n"]
    cap_mb = 10 * (section["bytes"] / section["n"]) / 2**20  # room for about 10 of the items
    headstart.fit(
        str(folders["old"]), backbone="test-cnn", strategy="linear", out=str(root / "capped"), memory_mb=cap_mb, **FIT
    )
    capped = _manifest(root / "capped")["head"]["memory"]
    assert capped["max_bytes"] == int(cap_mb * 2**20) and capped["bytes"] <= capped["max_bytes"]
    assert not capped["complete"] and 0 < capped["n"] < section["n"]

    headstart.expand(str(root / "capped"), str(folders["new"]), out=str(root / "kept"), **QUIET)
    assert _manifest(root / "kept")["head"]["memory"]["max_bytes"] == capped["max_bytes"]
    res = CliRunner().invoke(
        app, ["expand", str(root / "capped"), str(folders["new"]), "--out", str(root / "wider"), "--memory-mb", "4"]
    )
    assert res.exit_code == 0, res.output
    wider = _manifest(root / "wider")["head"]["memory"]
    assert wider["max_bytes"] == 4 * 2**20 and wider["n"] > capped["n"]


def test_head_only_refits_on_every_old_item_when_the_activations_are_capped(folders: dict[str, Path]) -> None:
    """partial:K bundles keep the fitted network's pooled features of every training item (`tuned`), so a
    head-only expand refits on all old items even when the byte cap keeps only a few of their activations."""
    root = folders["root"] / "tuned-bank"
    full = root / "full"
    headstart.fit(str(folders["old"]), backbone="test-cnn", strategy="partial:1", max_epochs=2, out=str(full), **FIT)
    everything = _manifest(full)["head"]["memory"]
    assert everything["complete"] and everything["tuned_n"] == everything["n"]

    # the network's own features of every item: the same rows a forward pass of the fitted stages gives
    predictor = headstart.load(full)
    stored = ExemplarMemory.from_bundle(everything, load_file(str(full / "head.safetensors")), "image")
    assert stored is not None and stored.tuned is not None
    top = predictor.model.top
    data = ActivationData([[v] for v in stored.values], stored.targets, "image", activation_key(predictor.backbone, 3))
    recomputed, _ = pooled_features(top, data, 64, 0)
    np.testing.assert_allclose(
        np.sort(stored.tuned, axis=0), np.sort(recomputed.numpy(), axis=0), rtol=2e-3, atol=2e-3
    )  # float16 after standardisation

    per_item = (everything["bytes"] - 8 * 2 * stored.tuned.shape[1]) / everything["n"]
    capped = root / "capped"
    cap_mb = 12 * per_item / 2**20  # room for the features of every item and the activations of a few
    headstart.fit(
        str(folders["old"]), backbone="test-cnn", strategy="partial:1", max_epochs=2, out=str(capped),
        memory_mb=cap_mb, **FIT,
    )  # fmt: skip
    section = _manifest(capped)["head"]["memory"]
    assert section["tuned_n"] == everything["n"] and section["n"] < everything["n"]
    assert section["bytes"] <= section["max_bytes"]
    result = headstart.expand(str(capped), str(folders["new"]), out=str(root / "child"), **QUIET)
    record = _manifest(root / "child")["strategy"]["expand"]
    n_new = result.counts["new_items"] - result.counts["test"]
    assert record["rehearsal_items"] == everything["n"] and record["head_refit"]["n"] == everything["n"] + n_new
    assert result.counts["rehearsal"] == everything["n"]  # every old item's features, not the capped activations
    assert _manifest(root / "child")["head"]["memory"]["tuned_n"] == everything["n"] + n_new
    _assert_knows_new_and_old(root / "child", folders)


def _activation_memory(n: int, first_target: int, max_bytes: int) -> ExemplarMemory:
    """`n` tiny image activations (64 bytes each when stored) of class `first_target` and the next one."""
    rng = np.random.default_rng(first_target)
    targets = np.array([first_target + i % 2 for i in range(n)], dtype=np.int64)
    values = list(rng.normal(size=(n, 4, 2, 2)).astype(np.float32))
    pooled = rng.normal(size=(n, 8)).astype(np.float32)
    return ExemplarMemory("activations", values, targets, None, "image", pooled, complete=True, max_bytes=max_bytes)


def test_child_memory_drops_the_features_before_they_squeeze_out_every_activation() -> None:
    """A head-only expand adds the new items' features to the parent's `tuned` rows; when those outgrow half the
    cap (as `fit` does) they are dropped, so the child keeps its activations instead of saving no memory at all."""
    from headstart.services.expand.head import _child_memory
    from headstart.strategies.memory import feature_rows_bytes

    cap = 2000  # bytes: the 15 activations below take 960
    parent, fresh = _activation_memory(10, 0, cap), _activation_memory(5, 2, cap)
    config = FitConfig(memory_mb=cap / 2**20)
    targets = torch.tensor([*parent.targets, *fresh.targets])
    for dim, keeps_features in ((4, True), (64, False)):  # 272 bytes of features: kept; 2,552 (over the cap): not
        parent.tuned, parent.tuned_targets = np.zeros((10, dim), np.float32), parent.targets
        pooled = torch.zeros(15, dim)
        child = _child_memory(parent, fresh, config, pooled, targets)
        assert child is not None and len(child) == 15 and child.complete
        assert (child.tuned is not None) is keeps_features
        features = feature_rows_bytes(15, dim) if keeps_features else 0
        stored = sum(t.nbytes for k, t in child.tensors().items() if not k.startswith("memory.tuned"))
        assert child.max_bytes == cap and stored + features <= cap


def test_head_only_names_a_cap_too_small_for_one_new_item(folders: dict[str, Path]) -> None:
    """`--memory-mb` below one item's activations: a clear usage error, not an empty torch.cat."""
    root = folders["root"] / "tiny-cap"
    headstart.fit(
        str(folders["old"]), backbone="test-cnn", strategy="partial:1", max_epochs=1, out=str(root / "A"), **FIT
    )
    with pytest.raises(HeadstartError, match="holds no new item's activations"):
        headstart.expand(str(root / "A"), str(folders["new"]), out=str(root / "B"), memory_mb=0.001, **QUIET)


def test_head_only_uses_every_new_item_even_beyond_the_activation_cap(folders: dict[str, Path]) -> None:
    """The new items' activations are capped for storage, but the refit reads the parent network's features of
    every readable new item, as `fit` does for the old ones."""
    root = folders["root"] / "new-over-cap"
    headstart.fit(
        str(folders["old"]), backbone="test-cnn", strategy="partial:1", max_epochs=2, out=str(root / "A"), **FIT
    )
    parent = _manifest(root / "A")["head"]["memory"]
    per_item = (parent["bytes"] - 8 * 2 * 16) / parent["n"]  # generous: test-cnn features are small
    cap_mb = 6 * per_item / 2**20  # the activations of a handful of items, the features of all
    result = headstart.expand(str(root / "A"), str(folders["new"]), out=str(root / "B"), memory_mb=cap_mb, **QUIET)
    record = _manifest(root / "B")["strategy"]["expand"]
    n_new = result.counts["new_items"] - result.counts["test"]
    assert record["head_refit"]["n"] == parent["tuned_n"] + n_new
    assert _manifest(root / "B")["head"]["memory"]["n"] < parent["tuned_n"] + n_new  # activations stayed capped
    _assert_knows_new_and_old(root / "B", folders)
