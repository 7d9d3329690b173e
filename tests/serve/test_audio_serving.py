"""Serving an audio bundle: uploads (multipart or one raw file), the header guards as 4xx (413 for a recording over
the duration limit), per-item skips under ?on_bad=skip, the card and the OpenAPI body; and the export's card."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient

import headstart
from headstart.bundle import load as load_bundle
from headstart.data.dataset import Dataset
from headstart.data.modalities import get_modality
from headstart.server import create_app
from tests.audio_data import make_audio_folder, sweep, tone, write, write_bad_files
from tests.serve.test_app import assert_error


@pytest.fixture(scope="module")
def audio_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve-audio")
    data = make_audio_folder(root / "voices", per_class=6)
    headstart.fit(str(data), backbone="test-audio", out=str(root / "model"), progress=False)
    write_bad_files(root / "bad")
    return root / "model"


@pytest.fixture(scope="module")
def audio_client(audio_bundle: Path) -> Iterator[TestClient]:
    with TestClient(create_app(audio_bundle)) as client:
        yield client


def clip(bundle: Path, name: str = "voices/high/00.flac") -> bytes:
    return (bundle.parent / name).read_bytes()


def test_card_asks_for_recordings(audio_client: TestClient) -> None:
    card = audio_client.get("/v1/model").json()
    assert card["modality"] == "audio" and card["input"] == "audio"
    body = audio_client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert "audio/wav" in body and "image/png" not in body


def test_uploads_are_answered(audio_client: TestClient, audio_bundle: Path) -> None:
    files = [("files", ("a.flac", clip(audio_bundle))), ("files", ("b.wav", clip(audio_bundle, "voices/low/01.wav")))]
    answer = audio_client.post("/v1/predict", files=files).json()
    assert [p["id"] for p in answer["predictions"]] == ["files[0]", "files[1]"]
    assert {p["label"] for p in answer["predictions"]} <= {"high", "low"}
    raw = audio_client.post("/v1/predict", content=clip(audio_bundle), headers={"Content-Type": "audio/flac"})
    assert raw.status_code == 200 and raw.json()["predictions"][0]["label"] == answer["predictions"][0]["label"]


@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("empty.wav", 422, ["empty"]),
        ("notaudio.wav", 422, ["not a usable recording", "not a readable audio file"]),
        ("truncated.wav", 422, ["truncated"]),
        ("channels9.wav", 422, ["9 channels"]),
        ("hour.wav", 413, ["too long: 3600.0 s"]),
    ],
)
def test_bad_headers_are_refused(audio_client: TestClient, audio_bundle: Path, name: str, status: int, words) -> None:
    response = audio_client.post("/v1/predict", files=[("files", (name, clip(audio_bundle, f"bad/{name}")))])
    body = assert_error(response, status, *words)
    assert "/tmp" not in json.dumps(body)  # no server path in the answer


def test_decode_problems_are_per_item(audio_client: TestClient, audio_bundle: Path) -> None:
    names = ["silent.wav", "nan.wav", "notaudio.wav", "tiny.wav"]
    files = [("files", ("good.flac", clip(audio_bundle)))] + [
        ("files", (n, clip(audio_bundle, f"bad/{n}"))) for n in names
    ]
    answer = audio_client.post("/v1/predict?on_bad=skip", files=files).json()
    assert [p["id"] for p in answer["predictions"]] == ["files[0]"]
    reasons = " ".join(s["reason"] for s in answer["skipped"])
    for fragment in ("silent", "NaN", "not a readable audio file", "too short"):
        assert fragment in reasons
    refused = audio_client.post("/v1/predict", files=[("files", ("s.wav", clip(audio_bundle, "bad/silent.wav")))])
    assert refused.status_code == 422 and "silent" in refused.json()["message"]


def test_texts_are_refused_with_the_noun(audio_client: TestClient) -> None:
    assert_error(audio_client.post("/v1/predict", json={"inputs": ["hello"]}), 422, "classifies recordings")


def test_export_card_describes_the_front_end(audio_bundle: Path, tmp_path: Path) -> None:
    result = headstart.export(audio_bundle, out=str(tmp_path / "m.onnx"))
    card = json.loads(result.sidecar.read_text())
    pre = card["preprocessing"]
    assert card["modality"] == "audio" and [i["name"] for i in card["inputs"]] == ["mel", "attention_mask"]
    assert pre["sample_rate"] == 16000 and pre["spectrogram"]["n_fft"] == 400 and pre["mel"]["n_mels"] == 40
    assert pre["window_frames"] == 160 and pre["window_hop_frames"] == 77
    assert any("soxr" in step for step in pre["decode"]) and result.max_abs_diff < 1e-4


def test_following_the_export_card_on_long_recordings_gives_the_bundles_probabilities(tmp_path: Path) -> None:
    """40 s recordings (51 windows, more than headstart runs per forward) of hums and whistles taking turns: the
    card says to feed all the windows in one row and that the graph pools them; doing so gives `predict_proba` of
    the bundle (which ran 16 windows a pass). A small C keeps them undecided, so the check can fail (the d-vector half
    barely varies over the short training clips, so standardised it is large on 40 s ones: C=1e-5 gave 1e-26)."""
    bundle = tmp_path / "model"
    headstart.fit(str(make_audio_folder(tmp_path / "voices")), backbone="test-audio", out=str(bundle), C=1e-7)
    result = headstart.export(bundle, out=str(tmp_path / "m.onnx"))
    card = json.loads(result.sidecar.read_text())
    long = card["preprocessing"]["long_recordings"]
    assert long["windows_per_pass"] == 16 and "float64" in long["headstart_runs"] and "L2" in long["pooling"]
    rate = card["preprocessing"]["sample_rate"]
    paths = []
    for hum in (0.1, 0.25, 0.4):
        piece = np.concatenate([sweep(160, 300, seconds=hum, seed=1), tone(2000, 0.6, seed=2)])  # 8 kHz pieces
        wave = np.tile(piece, 40 * rate // len(piece) + 1)[: 40 * rate]
        paths.append(str(write(tmp_path / f"long-{hum}.wav", wave, rate=rate)))  # played at 16 kHz
    predictor = load_bundle(bundle)
    want = predictor.predict_proba(Dataset(modality="audio", items=tuple(paths), ids=tuple(paths)))
    assert np.any((want > 0.05) & (want < 0.95))
    backbone = predictor.backbone
    assert backbone is not None
    session = ort.InferenceSession(str(result.onnx), providers=["CPUExecutionProvider"])
    for path, expected in zip(paths, want, strict=True):
        inputs = backbone.preprocess([get_modality("audio").decode(path)])
        assert inputs["mel"].shape[:2] == (1, 51) and inputs["attention_mask"].sum() == 51 > long["windows_per_pass"]
        got = session.run([card["output"]["name"]], {i["name"]: inputs[i["name"]] for i in card["inputs"]})[0]
        assert np.max(np.abs(got[0] - expected)) < 1e-5


def test_max_audio_seconds_is_a_service_option(audio_bundle: Path, tmp_path: Path) -> None:
    """--max-audio-seconds refuses a recording over it with a 413 naming the flag, and is shown in the card;
    raised above the decoder's guard (HEADSTART_MAX_AUDIO_SECONDS, 120 s), the answer names that guard."""
    three = write(tmp_path / "three.wav", tone(300, 3.0)).read_bytes()
    with TestClient(create_app(audio_bundle, max_audio_seconds=2.5)) as client:
        assert client.get("/v1/model").json()["limits"]["max_audio_seconds"] == 2.5
        body = assert_error(client.post("/v1/predict", files=[("files", ("3.wav", three))]), 413, "too long: 3.0 s")
        assert "2.5 s" in body["message"] and "--max-audio-seconds" in body["fix"]
        skipped = client.post("/v1/predict?on_bad=skip", files=[("files", ("3.wav", three))])
        assert skipped.status_code == 413  # over a size limit refuses the request, as for images
    with TestClient(create_app(audio_bundle, max_audio_seconds=3.5)) as client:
        assert client.post("/v1/predict", files=[("files", ("3.wav", three))]).status_code == 200
        hour = clip(audio_bundle, "bad/hour.wav")
        body = assert_error(client.post("/v1/predict", files=[("files", ("h.wav", hour))]), 413, "3.5 s")
        assert "--max-audio-seconds" in body["fix"]
    with TestClient(create_app(audio_bundle, max_audio_seconds=10_000)) as client:
        hour = clip(audio_bundle, "bad/hour.wav")
        body = assert_error(client.post("/v1/predict", files=[("files", ("h.wav", hour))]), 413, "120 s limit")
        assert "HEADSTART_MAX_AUDIO_SECONDS" in body["fix"]
