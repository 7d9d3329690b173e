"""`headstart expand` on the tiny backbones: linear, partial and zero-shot bundles, lineage, --update, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

import headstart
from headstart.cli.main import app
from headstart.errors import BundleError, DataError, HeadstartError, ModalityMismatchError, UsageError
from headstart.manifest import Manifest
from headstart.services.expand.linear import parent_C
from headstart.services.expand.tune import balanced_weights
from headstart.strategies import memory as memory_module
from headstart.strategies.memory import (
    ExemplarMemory,
    feature_memory,
    fitting_bound,
    herding,
    merge_memories,
    select_exemplars,
)
from tests.conftest import IMAGE_CLASSES, TEXT_CLASSES, make_image_folder, make_text_csv
from tests.services.expand.helpers import NEW_COLOURS, NEW_TOPIC, make_colour_folder, make_topic_csv

QUIET = {"progress": False}
FIT = {"progress": False, "track": False}


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("expand-images")
    old = make_image_folder(root / "old", per_class=12)
    new = make_colour_folder(root / "new", NEW_COLOURS)
    more = make_colour_folder(root / "more", {"red": IMAGE_CLASSES["red"]}, per_class=6, seed=5)
    linear = root / "linear"
    headstart.fit(str(old), backbone="test-cnn", strategy="linear", out=str(linear), **FIT)
    return {"root": root, "old": old, "new": new, "more": more, "linear": linear}


@pytest.fixture(scope="module")
def linear_v2(images: dict[str, Path]) -> tuple[Path, object]:
    """The linear bundle expanded with the yellow class (shared by the tests that only read it)."""
    out = images["root"] / "linear-v2"
    return out, headstart.expand(str(images["linear"]), str(images["new"]), out=str(out), **QUIET)


@pytest.fixture(scope="module")
def partial(images: dict[str, Path]) -> Path:
    out = images["root"] / "partial"
    headstart.fit(str(images["old"]), backbone="test-cnn", strategy="partial:1", max_epochs=3, out=str(out), **FIT)
    return out


@pytest.fixture(scope="module")
def text_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("expand-texts")
    bundle = root / "text"
    headstart.fit(str(make_text_csv(root / "old.csv")), backbone="test-text", out=str(bundle), **FIT)
    return bundle


def _stored_features(bundle: Path) -> np.ndarray:
    memory = ExemplarMemory.from_bundle(
        _manifest(bundle)["head"]["memory"], load_file(str(bundle / "head.safetensors")), "image"
    )
    assert memory is not None
    return memory.feature_matrix()


def _old_items(images: dict[str, Path]) -> list[str]:
    return sorted(str(p) for c in IMAGE_CLASSES for p in (images["old"] / c).iterdir())


def _herding_by_definition(x: np.ndarray, m: int) -> list[int]:
    """Herding as iCaRL states it: each step, the row that brings the running mean closest to the class mean."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    target, chosen = unit.mean(axis=0), []
    for k in range(1, m + 1):
        running = unit[chosen].sum(axis=0) if chosen else np.zeros_like(target)
        distance = np.linalg.norm(target - (running + unit) / k, axis=1)
        distance[chosen] = np.inf
        chosen.append(int(np.argmin(distance)))
    return chosen


def test_herding_tracks_the_class_mean() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)) + 3.0
    chosen = herding(x, 10)
    assert len(set(chosen.tolist())) == 10
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    random_gap = np.linalg.norm(unit[:10].mean(0) - unit.mean(0))
    assert np.linalg.norm(unit[chosen].mean(0) - unit.mean(0)) < random_gap
    wide = rng.normal(size=(120, 64)) + 0.5
    assert herding(wide, 40).tolist() == _herding_by_definition(wide, 40)
    rows = select_exemplars(x, np.repeat([0, 1], 100), 5)
    assert len(rows) == 10 and set((rows >= 100).tolist()) == {False, True}


def test_classes_within_the_bound_keep_every_row() -> None:
    x = np.random.default_rng(1).normal(size=(30, 4))
    targets = np.repeat([0, 1, 2], [4, 6, 20])
    rows = select_exemplars(x, targets, 6)
    assert sorted(rows[:10].tolist()) == list(range(10)) and len(rows) == 16
    assert sorted(select_exemplars(x, targets, None).tolist()) == list(range(30))
    assert fitting_bound(np.array([4, 6, 20]), 30) is None and fitting_bound(np.array([4, 6, 20]), 18) == 8


def test_feature_memory_keeps_everything_up_to_the_byte_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(2).normal(size=(60, 16)).astype(np.float32)
    y = np.repeat(["a", "b", "c"], [10, 20, 30])
    everything = feature_memory(x, y, ["a", "b", "c"], None)
    assert everything is not None and everything.complete and len(everything) == 60
    np.testing.assert_array_equal(everything.feature_matrix(), x[np.argsort(np.repeat([0, 1, 2], [10, 20, 30]))])
    assert everything.tensors()["memory.features"].dtype == np.float16
    cap = 40 * (2 * 16 + 8) + 2 * 4 * 16  # room for 40 float16 rows and their labels, plus the float32 statistics
    monkeypatch.setattr(memory_module, "FEATURE_MEMORY_BYTES", cap)
    capped = feature_memory(x, y, ["a", "b", "c"], None)
    assert capped is not None and not capped.complete
    assert capped.class_counts(["a", "b", "c"]) == {"a": 10, "b": 15, "c": 15}
    assert capped.manifest(["a", "b", "c"])["max_bytes"] == cap and capped.manifest(["a", "b", "c"])["bytes"] <= cap
    merged = merge_memories(capped, feature_memory(x[:5], np.array(["d"] * 5), ["a", "b", "c", "d"], None), None)
    assert merged is not None and merged.class_counts(["a", "b", "c", "d"]) == {"a": 10, "b": 12, "c": 12, "d": 5}
    assert feature_memory(x, y, ["a", "b", "c"], 0) is None


def test_stored_features_keep_small_spreads_around_large_means() -> None:
    """float16 after standardisation: a dimension at 5 ± 0.01 survives (raw float16 would round most of it off)."""
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(200, 8)) * 0.01 + 5.0).astype(np.float32)
    x[:, 1] = rng.normal(size=200) * 1e-33  # MiniLM has such dimensions: their float32 variance underflows
    x[:, 2] = 0.25  # and constant ones
    stored = feature_memory(x, np.repeat(["a", "b"], 100), ["a", "b"], None)
    assert stored is not None
    loaded = ExemplarMemory.from_bundle(stored.manifest(["a", "b"]), stored.tensors(), "image")
    assert loaded is not None
    spread = x.std(axis=0, dtype=np.float64)
    error = np.abs(loaded.feature_matrix() - stored.feature_matrix())[:, [0, 1, 3]] / spread[[0, 1, 3]]
    assert error.max() < 0.01 < (np.abs(x.astype(np.float16) - x)[:, 0] / spread[0]).max()
    np.testing.assert_array_equal(loaded.feature_matrix()[:, 2], x[:, 2])


def test_fit_stores_exemplar_memory(images: dict[str, Path]) -> None:
    manifest = _manifest(images["linear"])
    memory = manifest["head"]["memory"]
    assert memory["selection"] == "herding" and memory["kind"] == "features" and memory["per_class"] is None
    assert memory["complete"] and memory["n"] == manifest["data"]["counts"]["train"]  # every training item
    tensors = load_file(str(images["linear"] / "head.safetensors"))
    assert tensors["memory.features"].shape == (memory["n"], 16) and tensors["memory.features"].dtype == np.float16
    assert set(tensors["memory.labels"].tolist()) == {0, 1, 2}


def test_expand_linear_keeps_old_predictions_and_records_lineage(
    images: dict[str, Path], linear_v2: tuple[Path, object]
) -> None:
    out, result = linear_v2
    assert result.added_classes == ["yellow"] and result.labels == ["blue", "green", "red", "yellow"]
    parent, child = headstart.load(images["linear"]), headstart.load(out)
    items = _old_items(images)
    before, after = parent.predict(items), child.predict(items)
    assert np.mean([a == b for a, b in zip(before, after, strict=True)]) >= 0.95
    assert child.predict(sorted(str(p) for p in (images["new"] / "yellow").iterdir())).count("yellow") >= 10
    manifest = _manifest(out)
    assert manifest["labels"] == ["blue", "green", "red", "yellow"]
    assert manifest["parent"]["path"] == str(images["linear"].resolve())
    assert len(manifest["parent"]["manifest_sha256"]) == 64
    assert manifest["parent"]["created"] == _manifest(images["linear"])["created"]
    assert manifest["changes"]["added_classes"] == ["yellow"] and manifest["changes"]["updated_classes"] == []
    assert manifest["changes"]["new_items"] == 12 and "linear" in manifest["changes"]["method"]
    assert manifest["head"]["memory"]["class_counts"]["yellow"] > 0
    assert "NEW_DATA" in manifest["metrics"]["test"]["evaluated_on"]
    assert manifest["metrics"]["old_class_exemplars"]["agreement_with_parent"] >= 0.95


def test_expand_linear_refits_on_every_old_item_with_the_parents_C(
    images: dict[str, Path], linear_v2: tuple[Path, object]
) -> None:
    out, result = linear_v2
    parent, child = _manifest(images["linear"]), _manifest(out)
    assert child["head"]["C"] == parent["head"]["C"] and child["head"]["C_source"] == "parent"
    assert child["head"]["memory"]["complete"]
    memory, parent_memory = child["head"]["memory"], parent["head"]["memory"]
    assert memory["n"] == result.counts["train"] > parent_memory["n"]  # old and new training items, all kept
    assert {k: memory["class_counts"][k] for k in parent_memory["class_counts"]} == parent_memory["class_counts"]
    assert any("all the old training items" in n for n in result.notes)
    old, new = (_stored_features(path) for path in (images["linear"], out))
    error = np.abs(new[: len(old)] - old) / old.std(axis=0).clip(1e-6)
    assert error.max() < 0.01  # the old items' features carried over (float16 rounding aside)


def _parent(**sections: object) -> Manifest:
    return Manifest(modality="image", labels=["a", "b"], strategy={"name": "linear"}, **sections)  # type: ignore[arg-type]


def test_parent_C_is_reused_only_when_it_was_searched_or_fixed() -> None:
    searched = {"head": {"C": 0.1, "memory": {"class_counts": {"a": 40, "b": 3}}}, "config": {"C": None}}
    assert parent_C(_parent(**searched)) == 0.1
    assert parent_C(_parent(**{**searched, "config": {"C": 2.0}})) == 2.0
    defaulted = {"head": {"C": 1.0, "memory": {"class_counts": {"a": 40, "b": 2}}}, "config": {"C": None}}
    assert parent_C(_parent(**defaulted)) is None  # a 2-item class: the parent took C=1 without cross-validation
    assert parent_C(_parent(head={"C": 1.0, "memory": None}, config={})) is None


def test_update_adds_examples_of_existing_classes(images: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "updated"
    result = headstart.expand(str(images["linear"]), str(images["more"]), out=str(out), update=True, **QUIET)
    assert result.added_classes == [] and result.updated_classes == ["red"]
    manifest = _manifest(out)
    assert manifest["labels"] == _manifest(images["linear"])["labels"]
    assert manifest["changes"]["updated_classes"] == ["red"]


def test_update_takes_new_and_existing_classes_together(images: dict[str, Path], tmp_path: Path) -> None:
    mixed = make_colour_folder(tmp_path / "mixed", {"red": IMAGE_CLASSES["red"], **NEW_COLOURS}, per_class=6, seed=7)
    with pytest.raises(UsageError, match="red") as err:  # without --update the existing class is named ...
        headstart.expand(str(images["linear"]), str(mixed), out=str(tmp_path / "x"), **QUIET)
    assert "--update" in (err.value.fix or "")
    out = tmp_path / "mixed-v2"  # ... and the fix it suggests works
    res = CliRunner().invoke(app, ["expand", str(images["linear"]), str(mixed), "--out", str(out), "--update"])
    assert res.exit_code == 0, res.output
    assert "added 1 class(es): yellow" in res.output and "updated 1 class(es): red" in res.output
    manifest = _manifest(out)
    assert manifest["labels"] == [*_manifest(images["linear"])["labels"], "yellow"]
    assert manifest["changes"]["added_classes"] == ["yellow"] and manifest["changes"]["updated_classes"] == ["red"]


def test_existing_class_without_update_is_an_error(images: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="already exist") as err:
        headstart.expand(str(images["linear"]), str(images["more"]), out=str(tmp_path / "x"), **QUIET)
    assert "--update" in (err.value.fix or "")


def test_bundle_without_memory_says_what_is_lost(images: dict[str, Path], tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    headstart.fit(str(images["old"]), backbone="test-cnn", out=str(bare), memory=0, **FIT)
    assert _manifest(bare)["head"]["memory"] is None and "disabled" in _manifest(bare)["head"]["memory_reason"]
    with pytest.raises(BundleError, match="forget"):
        headstart.expand(str(bare), str(images["new"]), out=str(tmp_path / "x"), **QUIET)


def test_modality_mismatch(images: dict[str, Path], tmp_path: Path) -> None:
    texts = make_topic_csv(tmp_path / "t.csv", NEW_TOPIC)
    with pytest.raises(ModalityMismatchError):
        headstart.expand(str(images["linear"]), str(texts), out=str(tmp_path / "x"), **QUIET)


def test_unlabelled_new_data(text_bundle: Path, tmp_path: Path) -> None:
    unlabelled = tmp_path / "u.csv"
    unlabelled.write_text("text\nhello there\nanother one\n")
    with pytest.raises(DataError, match="no labels"):
        headstart.expand(str(text_bundle), str(unlabelled), out=str(tmp_path / "x"), **QUIET)


def test_expand_partial_grows_head_with_rehearsal(images: dict[str, Path], partial: Path) -> None:
    manifest = _manifest(partial)
    assert manifest["head"]["memory"]["kind"] == "activations"
    assert load_file(str(partial / "head.safetensors"))["memory.activations"].dtype == np.float16
    out = images["root"] / "partial-v2"
    result = headstart.expand(str(partial), str(images["new"]), out=str(out), max_epochs=3, **QUIET)
    assert "distillation" in result.method and result.labels[-1] == "yellow"
    child = _manifest(out)
    assert child["strategy"]["expand"]["distillation"]["temperature"] == 2.0
    assert child["head"]["memory"]["class_counts"]["yellow"] > 0
    parent_model, child_model = headstart.load(partial), headstart.load(out)
    items = _old_items(images)
    agreement = np.mean([a == b for a, b in zip(parent_model.predict(items), child_model.predict(items), strict=True)])
    assert agreement >= 0.9
    assert result.metrics["old_class_exemplars"]["accuracy"] >= 0.9


def test_balanced_weights_make_each_present_class_count_equally() -> None:
    targets = np.repeat([0, 1, 3], [5, 5, 90])  # two old classes by 5 exemplars each, a new class by 90 items
    weights = balanced_weights(targets, 4).numpy()
    totals = np.bincount(targets, minlength=4) * weights
    np.testing.assert_allclose(totals[[0, 1, 3]], totals[0])
    assert weights[2] == 1.0 and weights[0] == pytest.approx(100 / 15)


def test_full_bundle_needs_allow_forgetting(images: dict[str, Path], tmp_path: Path) -> None:
    full = tmp_path / "full"
    fitted = headstart.fit(str(images["old"]), backbone="test-cnn", strategy="full", max_epochs=1, out=str(full), **FIT)
    assert _manifest(full)["head"]["memory"] is None
    assert any(n.startswith("no exemplar memory kept") and "--allow-forgetting" in n for n in fitted.notes)
    with pytest.raises(BundleError, match="--allow-forgetting") as err:
        headstart.expand(str(full), str(images["new"]), out=str(tmp_path / "x"), **QUIET)
    assert "--allow-forgetting" in (err.value.fix or "")
    result = headstart.expand(
        str(full), str(images["new"]), out=str(tmp_path / "y"), allow_forgetting=True, max_epochs=1, **QUIET
    )
    assert "forgetting allowed" in result.method
    assert any("--allow-forgetting" in n for n in result.notes)


def test_expand_text_zero_shot_appends_prototypes(tmp_path: Path) -> None:
    old = make_text_csv(tmp_path / "old.csv")
    bundle = tmp_path / "zs"
    headstart.fit(str(old), backbone="test-text", strategy="zero-shot", out=str(bundle), **FIT)
    new = make_topic_csv(tmp_path / "new.csv", NEW_TOPIC)
    out = tmp_path / "zs2"
    result = headstart.expand(str(bundle), str(new), out=str(out), **QUIET)
    assert result.labels == ["food", "sport", "weather"]
    parent, child = load_file(str(bundle / "head.safetensors")), load_file(str(out / "head.safetensors"))
    np.testing.assert_allclose(child["label_embeddings"][:2], parent["label_embeddings"], atol=1e-6)
    assert _manifest(out)["head"]["prototypes"]["weather"]["n"] > 0


def test_zero_shot_update_of_a_prototype_class_weighs_its_examples_only(tmp_path: Path) -> None:
    """A prototype class has no label text: `--update` averages its n examples with the new ones (no phantom
    label-text example) and the manifest keeps saying it has no label text."""
    from headstart.data import load_dataset
    from headstart.features import extract_features
    from headstart.services.expand.common import l2_rows

    bundle, grown, updated = tmp_path / "zs", tmp_path / "zs2", tmp_path / "zs3"
    headstart.fit(
        str(make_text_csv(tmp_path / "old.csv")), backbone="test-text", strategy="zero-shot", out=str(bundle), **FIT
    )
    new = make_topic_csv(tmp_path / "new.csv", NEW_TOPIC, repeats=1)
    headstart.expand(str(bundle), str(new), out=str(grown), test_size=0, **QUIET)
    more = make_topic_csv(tmp_path / "more.csv", {"weather": ["freezing rain and hail", "a mild and dry week"]}, 1)
    headstart.expand(str(grown), str(more), out=str(updated), test_size=0, update=True, **QUIET)

    before = _manifest(grown)["head"]["prototypes"]["weather"]
    after = _manifest(updated)["head"]["prototypes"]["weather"]
    assert before == {"n": 6, "with_label_text": False} and after == {"n": 8, "with_label_text": False}
    predictor = headstart.load(grown)
    more_items = load_dataset(str(more), require_labels=False)
    added = l2_rows(extract_features(predictor.backbone, more_items, progress=False).features)
    previous = load_file(str(grown / "head.safetensors"))["label_embeddings"][2].astype(np.float64)
    expected = l2_rows((6 * previous + added.sum(axis=0))[None])[0]
    np.testing.assert_allclose(load_file(str(updated / "head.safetensors"))["label_embeddings"][2], expected, atol=1e-5)


def test_expand_linear_text(text_bundle: Path, tmp_path: Path) -> None:
    bundle = text_bundle
    new = make_topic_csv(tmp_path / "new.csv", NEW_TOPIC)
    result = headstart.expand(str(bundle), str(new), out=str(tmp_path / "v2"), **QUIET)
    assert result.labels == ["food", "sport", "weather"]
    parent, child = headstart.load(bundle), headstart.load(tmp_path / "v2")
    texts = [t for ts in TEXT_CLASSES.values() for t in ts]
    assert np.mean([a == b for a, b in zip(parent.predict(texts), child.predict(texts), strict=True)]) >= 0.9


def test_cli_expand_json(images: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cli"
    res = CliRunner().invoke(app, ["expand", str(images["linear"]), str(images["new"]), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["added_classes"] == ["yellow"] and doc["bundle"] == str(out.resolve())
    assert doc["parent"]["path"] == str(images["linear"].resolve()) and "total_seconds" in doc["timings"]
    assert doc["metrics"]["test"]["accuracy"] >= 0.5


def test_cli_expand_error_exit_code(images: dict[str, Path], tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["expand", str(images["linear"]), str(images["more"]), "--out", str(tmp_path / "x"), "--json"]
    )
    assert res.exit_code == UsageError.exit_code
    assert json.loads(res.stdout)["error"] == "UsageError"


def test_cli_fit_memory_option(images: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "m5"
    res = CliRunner().invoke(
        app, ["fit", str(images["old"]), "-b", "test-cnn", "--memory", "5", "--out", str(out), "--json", "--no-track"]
    )
    assert res.exit_code == 0, res.output
    assert _manifest(out)["head"]["memory"]["class_counts"] == {"blue": 5, "green": 5, "red": 5}


def test_errors_are_headstart_errors(images: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(HeadstartError):
        headstart.expand(str(tmp_path / "missing"), str(images["new"]), out=str(tmp_path / "x"), **QUIET)


def test_expanding_a_bundle_into_itself_is_refused_before_any_work(images: dict[str, Path]) -> None:
    before = (images["linear"] / "manifest.json").read_bytes()
    with pytest.raises(UsageError, match="is the bundle being expanded") as err:
        headstart.expand(str(images["linear"]), str(images["new"]), out=str(images["linear"]), **QUIET)
    assert "linear-v2" in (err.value.fix or "")
    assert (images["linear"] / "manifest.json").read_bytes() == before
