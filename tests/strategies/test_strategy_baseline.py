"""The baseline strategy: TF-IDF / pixel features + logistic regression, saved without pickles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import headstart
from headstart.cli.main import app
from headstart.data.dataset import Dataset
from headstart.errors import BadItemError
from headstart.manifest import parse_manifest
from headstart.strategies import get_strategy
from headstart.strategies.baseline import PIXEL_SIZE, PixelFeatures, TfidfFeatures


def test_baseline_is_registered_and_needs_no_backbone() -> None:
    strategy = get_strategy("baseline")
    assert strategy.needs_backbone is False


def test_tfidf_features_transform_identically_after_state_roundtrip() -> None:
    texts = ["the team won the match", "fresh bread from the bakery", "Ünïcode café, 2 goals!", "a b c"]
    unseen = ["the bakery won a goal", "completely new words here", ""]
    features = TfidfFeatures().fit(texts)
    rebuilt = TfidfFeatures.from_state(features.state())
    before, after = features.transform(texts + unseen), rebuilt.transform(texts + unseen)
    assert before.shape == after.shape
    assert (before != after).nnz == 0
    assert all(v.dtype != object for v in features.state().values())


def test_text_baseline_fits_beats_chance_and_reloads_identically(text_csv: Path, tmp_path: Path) -> None:
    result = headstart.fit(text_csv, strategy="baseline", out=str(tmp_path / "m"), progress=False, seed=0)
    assert result.metrics["accuracy"] >= 0.8  # chance is 0.5
    assert result.backbone == ""
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert manifest["backbone"] is None
    assert manifest["strategy"]["name"] == "baseline"
    assert manifest["strategy"]["features"]["kind"] == "tfidf"
    assert manifest["head"]["type"] == "sparse-linear"
    model = headstart.load(result.bundle)
    assert model.backbone is None
    texts = ["the players scored a goal", "garlic soup with bread", "an unseen sentence"]
    fitted = get_strategy("baseline").load(parse_manifest(manifest), _tensors(result.bundle), None)
    np.testing.assert_array_equal(model.predict_proba(texts), fitted.predict_dataset(_texts(texts)).proba)
    assert model.predict(texts[:2]) == ["sport", "food"]
    evaluation = headstart.evaluate(result.bundle, text_csv, progress=False)
    assert evaluation.report.accuracy >= 0.9


def test_baseline_notes_an_unused_backbone(text_csv: Path, tmp_path: Path) -> None:
    result = headstart.fit(text_csv, strategy="baseline", backbone="test-text", out=str(tmp_path / "m"), progress=False)
    assert any("unused" in n for n in result.notes)


def test_image_baseline_fits_beats_chance_and_reloads_identically(image_folder: Path, tmp_path: Path) -> None:
    result = headstart.fit(image_folder, strategy="baseline", out=str(tmp_path / "m"), progress=False, C=1.0)
    assert result.metrics["accuracy"] >= 0.8  # chance is 0.33
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert manifest["backbone"] is None
    assert manifest["strategy"]["features"] == {
        "kind": "pixels",
        "size": PIXEL_SIZE,
        "resize": "stretch",
        "interpolation": "bilinear",
        "scale": "0-1",
    }
    files = sorted(str(p) for p in image_folder.rglob("*.png"))[:6]
    model = headstart.load(result.bundle)
    again = headstart.load(result.bundle)
    np.testing.assert_array_equal(model.predict_proba(files), again.predict_proba(files))
    assert model.predict([str(image_folder / "red" / "000.png")]) == ["red"]


def test_pixel_features_skip_or_fail_on_a_truncated_image(image_folder: Path, tmp_path: Path) -> None:
    good = image_folder / "red" / "000.png"
    bad = tmp_path / "bad.png"
    bad.write_bytes(good.read_bytes()[:60])
    dataset = Dataset(modality="image", items=(str(good), str(bad)), ids=("good", "bad"))
    X, kept, skipped = PixelFeatures().extract(dataset, on_bad="skip")
    assert X.shape == (1, 3 * PIXEL_SIZE**2) and kept.tolist() == [0]
    assert [s.id for s in skipped] == ["bad"]
    with pytest.raises(BadItemError):
        PixelFeatures().extract(dataset, on_bad="fail")


def test_image_baseline_skips_a_truncated_training_image(image_folder: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(image_folder, data)
    (data / "red" / "broken.png").write_bytes((data / "red" / "000.png").read_bytes()[:60])
    result = headstart.fit(data, strategy="baseline", out=str(tmp_path / "m"), progress=False, C=1.0)
    assert any("broken.png" in s.id for s in result.skipped)


def test_cli_fit_baseline(text_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-model"
    result = CliRunner().invoke(app, ["fit", str(text_csv), "--strategy", "baseline", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["strategy"] == "baseline" and doc["backbone"] == ""
    predicted = CliRunner().invoke(app, ["predict", str(out), "the team won the match", "--json"])
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)["predictions"][0]["label"] == "sport"


def _tensors(bundle: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(bundle / "head.safetensors"))


def _texts(texts: list[str]) -> Dataset:
    return Dataset(modality="text", items=tuple(texts), ids=tuple(f"row {i}" for i in range(len(texts))))
