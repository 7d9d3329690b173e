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
from headstart.strategies.memory import herding, select_exemplars
from tests.conftest import IMAGE_CLASSES, TEXT_CLASSES, make_image_folder, make_text_csv
from tests.expand.helpers import NEW_COLOURS, NEW_TOPIC, make_colour_folder, make_topic_csv

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


def _old_items(images: dict[str, Path]) -> list[str]:
    return sorted(str(p) for c in IMAGE_CLASSES for p in (images["old"] / c).iterdir())


def test_herding_tracks_the_class_mean() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)) + 3.0
    chosen = herding(x, 10)
    assert len(set(chosen.tolist())) == 10
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    random_gap = np.linalg.norm(unit[:10].mean(0) - unit.mean(0))
    assert np.linalg.norm(unit[chosen].mean(0) - unit.mean(0)) < random_gap
    rows = select_exemplars(x, np.repeat([0, 1], 100), 5)
    assert len(rows) == 10 and set((rows >= 100).tolist()) == {False, True}


def test_fit_stores_exemplar_memory(images: dict[str, Path]) -> None:
    manifest = _manifest(images["linear"])
    memory = manifest["head"]["memory"]
    assert memory["selection"] == "herding" and memory["kind"] == "features" and memory["per_class"] == 500
    tensors = load_file(str(images["linear"] / "head.safetensors"))
    assert tensors["memory.features"].shape == (memory["n"], 16)
    assert set(tensors["memory.labels"].tolist()) == {0, 1, 2}


def test_expand_linear_keeps_old_predictions_and_records_lineage(images: dict[str, Path]) -> None:
    out = images["root"] / "linear-v2"
    result = headstart.expand(str(images["linear"]), str(images["new"]), out=str(out), **QUIET)
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


def test_expand_twice_chains_lineage(images: dict[str, Path], tmp_path: Path) -> None:
    first = tmp_path / "v2"
    headstart.expand(str(images["linear"]), str(images["new"]), out=str(first), **QUIET)
    purple = make_colour_folder(tmp_path / "purple", {"purple": (150, 30, 200)})
    second = tmp_path / "v3"
    result = headstart.expand(str(first), str(purple), out=str(second), **QUIET)
    assert result.labels == ["blue", "green", "red", "yellow", "purple"]
    assert _manifest(second)["parent"]["path"] == str(first.resolve())
    assert headstart.load(second).predict([str(p) for p in sorted((purple / "purple").iterdir())[:3]]) == ["purple"] * 3


def test_update_adds_examples_of_existing_classes(images: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "updated"
    result = headstart.expand(str(images["linear"]), str(images["more"]), out=str(out), update=True, **QUIET)
    assert result.added_classes == [] and result.updated_classes == ["red"]
    manifest = _manifest(out)
    assert manifest["labels"] == _manifest(images["linear"])["labels"]
    assert manifest["changes"]["updated_classes"] == ["red"]


def test_update_rejects_unknown_classes(images: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="yellow"):
        headstart.expand(str(images["linear"]), str(images["new"]), out=str(tmp_path / "x"), update=True, **QUIET)


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


def test_full_bundle_needs_allow_forgetting(images: dict[str, Path], tmp_path: Path) -> None:
    full = tmp_path / "full"
    headstart.fit(str(images["old"]), backbone="test-cnn", strategy="full", max_epochs=1, out=str(full), **FIT)
    assert _manifest(full)["head"]["memory"] is None
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
