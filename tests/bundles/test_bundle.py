"""Bundles: round trip, atomic writes, and clear errors for broken or mismatched bundles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import headstart
from headstart import bundle as bundle_module
from headstart.errors import BundleError, UsageError


@pytest.fixture
def fitted(image_folder: Path, tmp_path: Path) -> Path:
    return headstart.fit(image_folder, backbone="test-cnn", out=str(tmp_path / "model"), progress=False).bundle


def test_roundtrip_predictions_match_fit_metrics(fitted: Path, image_folder: Path) -> None:
    predictor = headstart.load(fitted)
    files = sorted(str(p) for p in (image_folder / "green").glob("*.png"))
    proba = predictor.predict_proba(files)
    assert proba.shape == (12, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert predictor.predict(files) == ["green"] * 12
    assert predictor.embed(files[:2]).shape == (2, predictor.backbone.feature_dim)
    manifest = json.loads((fitted / "manifest.json").read_text())
    assert manifest["format_version"] == bundle_module.FORMAT_VERSION
    assert manifest["data"]["fingerprint"]
    assert "torch" in manifest["versions"]


def test_failed_save_keeps_the_old_bundle(fitted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (fitted / "manifest.json").read_text()

    def explode(path: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(bundle_module, "file_sha256", explode)
    with pytest.raises(UsageError, match="disk full"):  # the disk, not a bug: exit 2 with the reason
        bundle_module.save_bundle(fitted, {"labels": ["x"]}, {"coef": np.zeros((1, 2), np.float32)})
    assert (fitted / "manifest.json").read_text() == before
    assert [p.name for p in fitted.parent.iterdir() if p.name.startswith(".")] == []


def test_tampered_weights_are_detected(fitted: Path) -> None:
    weights = fitted / "head.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not match its recorded hash"):
        headstart.load(fitted)


def test_newer_format_is_refused(fitted: Path) -> None:
    manifest = json.loads((fitted / "manifest.json").read_text())
    manifest["format_version"] = 99
    (fitted / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="newer"):
        headstart.load(fitted)


def test_backbone_weight_mismatch_is_refused(fitted: Path) -> None:
    manifest = json.loads((fitted / "manifest.json").read_text())
    manifest["backbone"]["weights_sha256"] = "0" * 64
    (fitted / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="different weights"):
        headstart.load(fitted)


def test_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(BundleError, match="manifest.json is missing"):
        headstart.load(tmp_path / "folder")


def test_refuses_to_overwrite_a_non_bundle_folder(image_folder: Path) -> None:
    with pytest.raises(BundleError, match="not a headstart bundle"):
        headstart.fit(image_folder, backbone="test-cnn", out=str(image_folder), progress=False)


def test_bundle_and_exported_files_are_readable_like_any_written_file(fitted: Path, tmp_path: Path) -> None:
    """safetensors and mkstemp create owner-only files; a bundle must be readable by whoever may read manifest.json."""
    from headstart.files import current_umask

    expected = 0o666 & ~current_umask()
    for name in ("head.safetensors", "manifest.json"):
        assert (fitted / name).stat().st_mode & 0o777 == expected, name
    headstart.api.export(fitted, out=tmp_path / "model.onnx")
    assert (tmp_path / "model.onnx").stat().st_mode & 0o777 == expected


def test_predicting_with_a_linear_bundle_does_not_load_scikit_learn(fitted: Path, image_folder: Path) -> None:
    """scikit-learn fits heads; a saved head is plain arrays, so `predict` (and `serve`) start without it."""
    import subprocess
    import sys

    files = sorted(str(p) for p in (image_folder / "green").glob("*.png"))[:2]
    code = (
        "import sys, headstart\n"
        f"labels = headstart.load({str(fitted)!r}).predict({files!r})\n"
        "assert labels == ['green', 'green'], labels\n"
        "assert 'sklearn' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_fit_never_replaces_a_bundle_whose_folder_would_lose_something(fitted: Path, image_folder: Path) -> None:
    """A promoted bundle or one holding the user's files is refused before training; exports are replaceable."""
    (fitted / "model.onnx").write_bytes(b"an earlier export")
    (fitted / "model.json").write_text("{}")
    again = headstart.fit(image_folder, backbone="test-cnn", out=str(fitted), progress=False)
    assert again.bundle == fitted.resolve() and not (fitted / "model.onnx").exists()  # stale export went with it

    (fitted / "NOTES.txt").write_text("mine")
    with pytest.raises(BundleError, match="also holds NOTES.txt"):
        headstart.fit(image_folder, backbone="test-cnn", out=str(fitted), progress=False)
    assert (fitted / "NOTES.txt").read_text() == "mine"

    (fitted / "NOTES.txt").unlink()
    (fitted / "promotion.json").write_text('{"promoted": true}')
    manifest = (fitted / "manifest.json").read_text()
    with pytest.raises(BundleError, match="promoted bundle"):
        headstart.fit(image_folder, backbone="test-cnn", out=str(fitted), progress=False)
    assert (fitted / "manifest.json").read_text() == manifest
