"""Strategies on recordings with the tiny `test-audio` backbone: linear (centroids at 1-3 clips per class,
logistic regression above), the MFCC baseline, partial:K / full / scratch through the Trainer, contrastive,
and zero-shot's refusal; every bundle reloads and predicts the same."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import headstart
from headstart.errors import HeadstartError
from headstart.strategies.centroid import CentroidHead
from tests.audio_data import make_audio_folder, write_bad_files


@pytest.fixture
def voices(tmp_path: Path) -> Path:
    return make_audio_folder(tmp_path / "voices", per_class=8)


def fit(data: Path, out: Path, **options: object) -> headstart.FitResult:  # type: ignore[name-defined]
    return headstart.fit(data, backbone="test-audio", out=str(out), progress=False, seed=0, **options)


def manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def test_linear_fits_logistic_regression_with_enough_clips(voices: Path, tmp_path: Path) -> None:
    result = fit(voices, tmp_path / "m", strategy="linear")
    assert manifest(result.bundle)["head"]["kind"] == "logreg"
    assert not any("centroid" in n for n in result.notes)
    model = headstart.load(result.bundle)
    files = sorted(str(p) for p in voices.rglob("*.*"))
    right = sum(p == Path(f).parent.name for p, f in zip(model.predict(files), files, strict=True))
    assert right >= 12  # of 16; random 8-d LSTM features, but tones and sweeps differ


def test_linear_fits_cosine_centroids_at_few_clips(tmp_path: Path) -> None:
    few = make_audio_folder(tmp_path / "few" / "train", per_class=3).parent
    make_audio_folder(few / "test", per_class=2, seed=1)
    result = fit(few, tmp_path / "m", strategy="linear")
    doc = manifest(result.bundle)
    assert doc["head"]["kind"] == "centroid"
    assert any("nearest class centroids (cosine)" in n for n in result.notes)
    assert any("nearest class centroids" in n for n in doc["notes"])
    model = headstart.load(result.bundle)
    files = sorted(str(p) for p in (few / "train").rglob("*.*"))
    proba = model.predict_proba(files)
    assert proba.shape == (6, 2) and np.allclose(proba.sum(axis=1), 1)
    assert np.allclose(headstart.load(result.bundle).predict_proba(files), proba)
    exported = headstart.export(result.bundle, out=str(tmp_path / "m.onnx"))  # the centre is inside the graph
    assert exported.max_abs_diff < 1e-4


def test_centroid_head_is_cosine_to_centred_class_means() -> None:
    """Rows are centred on the mean of the (unit-length) class means; the decision is the centred row against the
    unit mean of each class's centred unit rows, a cosine similarity times a length common to every class."""
    rng = np.random.default_rng(0)
    centres = np.eye(4, dtype=np.float32)[:3] * 5 + 3  # a direction every row shares, which centring removes
    X = np.concatenate([c + rng.normal(0, 1, (2, 4)) for c in centres]).astype(np.float32)
    y = np.repeat(["a", "b", "c"], 2)
    head = CentroidHead().fit(X, y)
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    centre = np.stack([unit[y == c].mean(0) for c in "abc"]).mean(0)
    centred = (unit - centre) / np.linalg.norm(unit - centre, axis=1, keepdims=True)
    means = np.stack([centred[y == c].mean(0) for c in "abc"])
    cosine = centred @ (means / np.linalg.norm(means, axis=1, keepdims=True)).T
    lengths = np.linalg.norm(unit - centre, axis=1, keepdims=True)
    assert np.allclose(head.mean_, centre, atol=1e-6) and np.allclose(head.scale_, 1)
    assert np.allclose(head.decision_function(unit), cosine * lengths, atol=1e-5)
    assert head.predict(unit).tolist() == y.tolist()
    assert np.isclose(head.temperature_, 0.08 * np.median(lengths))
    assert np.allclose(head.predict_proba(unit).sum(1), 1) and head.config()["kind"] == "centroid"


def test_centring_changes_no_decision_between_two_classes_of_one_clip() -> None:
    """With one clip per class of two, centring (on their midpoint) gives the same decisions as plain cosine."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2, 6)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    rows = rng.normal(size=(50, 6)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    head = CentroidHead().fit(X, np.array(["a", "b"]))
    assert head.predict(rows).tolist() == np.array(["a", "b"])[np.argmax(rows @ X.T, axis=1)].tolist()


def test_baseline_is_mfcc_statistics(voices: Path, tmp_path: Path) -> None:
    write_bad_files(voices / "low")
    result = headstart.fit(voices, strategy="baseline", out=str(tmp_path / "m"), progress=False, seed=0)
    doc = manifest(result.bundle)
    assert doc["strategy"]["features"]["kind"] == "mfcc-stats" and doc["strategy"]["features"]["dim"] == 80
    reasons = " ".join(s.reason for s in result.skipped)
    for fragment in ("silent", "NaN", "truncated", "too long", "empty file"):
        assert fragment in reasons
    model = headstart.load(result.bundle)
    assert model.predict([str(voices / "high" / "00.flac"), str(voices / "low" / "00.wav")]) == ["high", "low"]


@pytest.mark.parametrize("strategy", ["partial:1", "partial:2", "full", "scratch"])
def test_gradient_strategies_train_and_reload(voices: Path, tmp_path: Path, strategy: str) -> None:
    result = fit(voices, tmp_path / "m", strategy=strategy, max_epochs=2)
    doc = manifest(result.bundle)
    assert doc["strategy"]["name"] == strategy.split(":")[0]
    files = sorted(str(p) for p in voices.rglob("*.*"))
    model = headstart.load(result.bundle)
    first = model.predict_proba(files)
    assert first.shape == (16, 2)
    assert np.allclose(headstart.load(result.bundle).predict_proba(files), first, atol=1e-5)


def test_second_fit_reads_the_feature_cache(voices: Path, tmp_path: Path) -> None:
    fit(voices, tmp_path / "a", strategy="linear")
    again = fit(voices, tmp_path / "b", strategy="linear")
    assert again.counts.get("features_computed", 0) == 0 and again.counts.get("features_cached", 0) > 0


def test_contrastive_tunes_the_encoder(voices: Path, tmp_path: Path) -> None:
    result = fit(voices, tmp_path / "m", strategy="contrastive", max_epochs=1)
    assert manifest(result.bundle)["strategy"]["name"] == "contrastive"


def test_zero_shot_refuses_recordings(voices: Path, tmp_path: Path) -> None:
    with pytest.raises(HeadstartError, match="no pretraining head"):
        fit(voices, tmp_path / "m", strategy="zero-shot")


def test_bad_recordings_are_skipped_with_reasons_in_fit_and_predict(voices: Path, tmp_path: Path) -> None:
    expected = write_bad_files(voices / "low")
    result = fit(voices, tmp_path / "m", strategy="linear")
    reasons = {s.id: s.reason for s in result.skipped}
    for name, fragment in expected.items():
        assert fragment in reasons[f"low/{name}"], (name, reasons.get(f"low/{name}"))
    predicted = headstart.predict(result.bundle, [str(voices / "low")], progress=False)
    skipped = {Path(s.id).name: s.reason for s in predicted.skipped}
    assert {Path(p.id).name for p in predicted.predictions} == {f"{n:02d}.wav" for n in range(8)}
    for name, fragment in expected.items():
        assert fragment in skipped[name]
    with pytest.raises(HeadstartError, match="silent"):
        headstart.predict(result.bundle, [str(voices / "low" / "silent.wav")], on_bad="fail", progress=False)


def test_the_pooling_option_goes_through_fit_predict_export_expand_and_serve(voices: Path, tmp_path: Path) -> None:
    """`--backbone test-audio#pool=last+mean` (the voice-encoder's default pooling, on the tiny backbone): the
    manifest keeps the option and the 16-d width, the bundle reloads with it, the ONNX export matches, `expand`
    enrols a new class on the same features and the service answers with the bundle's probabilities."""
    from fastapi.testclient import TestClient

    from headstart.server import create_app
    from tests.audio_data import sweep, write

    result = headstart.fit(voices, backbone="test-audio#pool=last+mean", out=str(tmp_path / "m"), progress=False)
    doc = manifest(result.bundle)
    assert doc["backbone"]["name"] == "test-audio" and doc["backbone"]["options"] == {"pool": "last+mean"}
    assert doc["backbone"]["feature_dim"] == 16 and doc["backbone"]["preprocess"]["pool"] == "last+mean"
    model = headstart.load(result.bundle)
    assert model.backbone is not None and model.backbone.options == {"pool": "last+mean"}
    files = sorted(str(p) for p in voices.rglob("*.*"))
    proba = model.predict_proba(files)
    assert proba.shape == (16, 2)
    exported = headstart.export(result.bundle, out=str(tmp_path / "m.onnx"))
    card = json.loads(exported.sidecar.read_text())
    assert exported.max_abs_diff < 1e-4 and card["backbone"]["options"] == {"pool": "last+mean"}
    assert card["preprocessing"]["pool"] == "last+mean" and "frames" in card["preprocessing"]["pooling"]
    new = tmp_path / "new"
    for n in range(6):
        write(new / "mid" / f"{n:02d}.wav", sweep(600 + 20 * n, 900, seconds=0.6, seed=50 + n))
    grown = headstart.expand(str(result.bundle), str(new), out=str(tmp_path / "grown"), progress=False)
    assert manifest(grown.bundle)["backbone"]["options"] == {"pool": "last+mean"}
    assert headstart.load(grown.bundle).labels == ["high", "low", "mid"]
    with TestClient(create_app(result.bundle)) as client:
        upload = [("files", ("a.wav", Path(files[-1]).read_bytes()))]
        answer = client.post("/v1/predict", files=upload).json()["predictions"][0]
    assert answer["label"] == model.predict([files[-1]])[0]


def test_partial_fine_tunes_the_projection_on_the_pooled_windows(voices: Path, tmp_path: Path) -> None:
    """partial:1 on `pool=last+mean`: the cached lstm2 activations hold each window's final frame and mean (16
    wide), the trained projection reads the final frame and passes the mean on; the bundle reloads the same."""
    result = headstart.fit(
        voices, backbone="test-audio#pool=last+mean", strategy="partial:1", out=str(tmp_path / "m"),
        progress=False, seed=0, max_epochs=2,
    )  # fmt: skip
    assert manifest(result.bundle)["backbone"]["options"] == {"pool": "last+mean"}
    files = sorted(str(p) for p in voices.rglob("*.*"))
    first = headstart.load(result.bundle).predict_proba(files)
    assert first.shape == (16, 2) and np.allclose(headstart.load(result.bundle).predict_proba(files), first)


def test_expand_enrols_a_voice_from_few_clips_with_centroids(tmp_path: Path) -> None:
    """A bundle fitted on 3 clips per class holds centred cosine centroids; enrolling a class from 3 clips refits
    centroids too (what `linear` fits on the same data), not a logistic regression on so few rows. (On
    `pool=last+mean`: test-audio's GE2E-style final frame is the same for every short clip, after the padding.)"""
    from tests.audio_data import sweep, write

    few = make_audio_folder(tmp_path / "few", per_class=3)
    result = headstart.fit(few, backbone="test-audio#pool=last+mean", out=str(tmp_path / "m"), progress=False, seed=0)
    assert manifest(result.bundle)["head"]["kind"] == "centroid"
    new = tmp_path / "new"
    for n in range(3):
        write(new / "mid" / f"{n:02d}.wav", sweep(600 + 20 * n, 900, seconds=0.6, seed=50 + n))
    grown = headstart.expand(str(result.bundle), str(new), out=str(tmp_path / "grown"), progress=False)
    doc = manifest(grown.bundle)
    assert doc["head"]["kind"] == "centroid" and "C_source" not in doc["head"]
    assert any("nearest class centroids" in n for n in grown.notes)
    model = headstart.load(grown.bundle)
    assert model.labels == ["high", "low", "mid"]
    files = sorted(str(p) for p in new.rglob("*.wav"))
    assert np.allclose(model.predict_proba(files).sum(axis=1), 1)
    assert model.predict(files).count("mid") >= 2  # the enrolment clips (one may have been held out for the test)
