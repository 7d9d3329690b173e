"""Audio backbones: `test-audio` through every seam (stages, cuts, pooling, ONNX), and `voice-encoder` against
resemblyzer's own `embed_utterance` (skipped when resemblyzer, librosa or ../shared/data are missing)."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from headstart.backbones import get_backbone, list_backbones
from headstart.backbones.voice_encoder import weights_installed
from headstart.data.audio import SAMPLE_RATE, normalize_volume, read_audio
from headstart.runtime import FrozenRunner, MultiCutRunner
from tests.audio_data import tone
from tests.conftest import SHARED_DATA


def waves() -> list[np.ndarray]:
    return [tone(f, s, rate=SAMPLE_RATE, seed=i) for i, (f, s) in enumerate([(220, 0.7), (900, 4.0), (400, 2.6)])]


def test_test_audio_has_stages_as_data() -> None:
    b = get_backbone("test-audio")
    assert b.modality == "audio" and b.stages == ["lstm1", "lstm2", "projection"]
    inputs = b.preprocess(waves())
    assert inputs["mel"].shape == (3, 4, 160, 40) and inputs["attention_mask"].sum(1).tolist() == [1, 4, 2]
    state = {k: torch.from_numpy(v) for k, v in inputs.items()}
    with torch.no_grad():
        mid = b.forward(state, 0, 1)
        assert mid["hidden"].shape == (3, 4, 160, 8)
        assert not mid["hidden"][0, 1:].any()  # padding windows are zeros
        whole = b.pool(b.forward(mid, 1))
    assert np.allclose(whole.norm(dim=1).numpy(), 1, atol=1e-5)
    assert np.allclose(whole.numpy(), b.embed_torch(waves()), atol=1e-6)


def test_features_do_not_depend_on_the_batch() -> None:
    """A recording alone and beside a longer one (more padding windows) gives the same vector."""
    b = get_backbone("test-audio")
    alone = b.embed_torch(waves()[:1])
    together = b.embed_torch(waves())
    assert np.allclose(alone[0], together[0], atol=1e-6)


@pytest.mark.parametrize("stop", [1, 2, 3])
def test_frozen_prefix_runs_in_onnxruntime(stop: int) -> None:
    b = get_backbone("test-audio")
    inputs = b.preprocess(waves())
    for pooled in (True, False):
        onnx = FrozenRunner(b, stop=stop, pooled=pooled, threads=1)
        ref = FrozenRunner(b, stop=stop, pooled=pooled, engine="torch")
        assert onnx.engine == "onnxruntime"
        got, want = onnx(inputs), ref(inputs)
        assert got.shape == want.shape and np.max(np.abs(got - want)) < 1e-4


@pytest.mark.parametrize("engine", ["onnxruntime", "torch"])
def test_multi_cut_runs_split_a_long_recording_into_windows_per_pass(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rank --cuts all` and the cut probes: a 40 s recording (51 windows) runs 4 windows per forward at every
    cut, with the numbers of one whole pass; the short recordings beside it still share the one graph."""
    b = get_backbone("test-audio")
    long = tone(300, 40.0, rate=SAMPLE_RATE, seed=7) * np.linspace(0.2, 1.0, 40 * SAMPLE_RATE, dtype=np.float32)
    inputs = b.preprocess([waves()[0], long, waves()[1]])
    monkeypatch.setattr(type(b), "windows_per_pass", None)
    want = MultiCutRunner(b, [1, 2, 3], threads=1, engine=engine)(inputs)  # type: ignore[arg-type]
    monkeypatch.setattr(type(b), "windows_per_pass", 4)
    chunked = MultiCutRunner(b, [1, 2, 3], threads=1, engine=engine)  # type: ignore[arg-type]
    got = chunked(inputs)
    assert [r.stop for r in chunked._cut_runners] == [1, 2, 3]
    assert all("_window_runner" in vars(r) for r in chunked._cut_runners)  # the long one ran 4 windows a pass
    assert got.shape == want.shape == (3, 8 + 8 + chunked.widths[2])
    # LSTM cuts: the one pass averages 8,160 frames in float32 (pool_windows sums in float64), as for one cut
    for cut, (g, w) in enumerate(zip(chunked.split(got), chunked.split(want), strict=True)):
        assert np.max(np.abs(g - w)) < (1e-6 if cut == 2 else 2e-6), cut


def test_models_lists_the_voice_encoder_when_installed() -> None:
    names = [i.name for i in list_backbones()]
    assert ("voice-encoder" in names) == weights_installed()


needs_resemblyzer = pytest.mark.skipif(
    importlib.util.find_spec("resemblyzer") is None
    or importlib.util.find_spec("librosa") is None
    or not (SHARED_DATA / "fsdd").is_dir(),
    reason="needs resemblyzer and librosa (test-only) and ../shared/data/fsdd",
)


@needs_resemblyzer
def test_voice_encoder_matches_resemblyzer_embed_utterance() -> None:
    sys.modules.setdefault("webrtcvad", types.ModuleType("webrtcvad"))  # resemblyzer imports it; VAD is unused here
    from resemblyzer import VoiceEncoder as Reference

    files = sorted((SHARED_DATA / "fsdd").glob("*/*_0.wav"))[:4]
    wavs = [read_audio(f) for f in files] + [np.tile(read_audio(files[0]), 8)]  # and one of several windows
    reference = Reference("cpu", verbose=False)
    want = np.stack([reference.embed_utterance(normalize_volume(w)) for w in wavs])
    b = get_backbone("voice-encoder#pool=last")  # GE2E's d-vectors (the default pools each window's frames)
    assert np.max(np.abs(b.embed_torch(wavs) - want)) < 1e-5
    onnx = FrozenRunner(b, pooled=True, threads=2)(b.preprocess(wavs))
    diff = float(np.max(np.abs(onnx - want)))
    print(f"voice-encoder ONNX vs resemblyzer: max |diff| {diff:.2e}")
    assert diff < 1e-4


@pytest.mark.skipif(not weights_installed(), reason="resemblyzer wheel not installed")
def test_voice_encoder_weights_hash_is_the_file() -> None:
    from headstart.backbones.hashing import file_sha256
    from headstart.backbones.voice_encoder import weights_path

    b = get_backbone("voice-encoder")
    assert b.weights_sha256 == file_sha256(Path(str(weights_path())))
    assert b.stages == ["lstm1", "lstm2", "lstm3", "projection"] and b.info().params == 1_423_616


@pytest.mark.parametrize("engine", ["onnxruntime", "torch"])
@pytest.mark.parametrize("stop", [1, 3])
def test_long_recordings_run_a_few_windows_per_pass_with_the_same_numbers(
    engine: str, stop: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 40 s recording (51 windows) beside short ones, 4 windows per forward, equals one pass of all windows."""
    b = get_backbone("test-audio")
    long = tone(300, 40.0, rate=SAMPLE_RATE, seed=7) * np.linspace(0.2, 1.0, 40 * SAMPLE_RATE, dtype=np.float32)
    inputs = b.preprocess([waves()[0], long, waves()[1]])
    assert inputs["mel"].shape[1] == 51
    monkeypatch.setattr(type(b), "windows_per_pass", None)
    whole = FrozenRunner(b, stop=stop, pooled=True, threads=1, engine=engine)  # type: ignore[arg-type]
    want = whole(inputs)
    assert "_window_runner" not in vars(whole)  # one pass: no runner of windows was built
    monkeypatch.setattr(type(b), "windows_per_pass", 4)
    chunked = FrozenRunner(b, stop=stop, pooled=True, threads=1, engine=engine)  # type: ignore[arg-type]
    calls: list[tuple[int, ...]] = []
    run_windows = chunked._window_runner
    monkeypatch.setattr(chunked, "_window_runner", lambda feed: calls.append(feed["mel"].shape) or run_windows(feed))
    got = chunked(inputs)
    assert max(shape[1] for shape in calls) == 4 and sum(shape[1] for shape in calls) == 1 + 51 + 4
    # at an LSTM cut the one pass averages 8,160 frames in float32 (pool_windows sums in float64): 2e-6 there
    assert got.shape == want.shape and np.max(np.abs(got - want)) < (1e-6 if stop == 3 else 2e-6)


# ---------------------------------------------------------------- the pooling option (`NAME#pool=`)


def test_pool_last_mean_keeps_each_windows_d_vector_and_frame_mean() -> None:
    """`test-audio#pool=last+mean`: per window, the projection of the last LSTM layer's final frame (the d-vector,
    linear -> ReLU -> L2) then that layer's outputs averaged over the window's 160 frames (L2); windows averaged,
    L2-normalised. The d-vector half is `pool=last`'s per-window vector."""
    b = get_backbone("test-audio#pool=last+mean")
    assert b.options == {"pool": "last+mean"} and b.feature_dim == 16 and b.info().feature_dim == 16
    inputs = b.preprocess(waves())
    net = b.module()
    with torch.no_grad():
        x = torch.from_numpy(inputs["mel"][1, :4])  # the 4 s recording: four real windows
        for stage in net.stages[:2]:  # type: ignore[attr-defined]
            x, _ = stage.lstm(x)
        last, mean = x[:, -1], x.mean(dim=1)  # (windows, 8) each
        d = torch.relu(net.stages[2].linear(last))  # type: ignore[attr-defined]
        per_window = torch.cat([d / d.norm(dim=1, keepdim=True), mean / mean.norm(dim=1, keepdim=True)], dim=1)
        want = per_window.mean(dim=0)
        want = (want / want.norm()).numpy()
        state = {k: torch.from_numpy(v) for k, v in inputs.items()}
        assert b.forward(state, 0, 2)["hidden"].shape == (3, 4, 16)  # final frame and mean per window at lstm2
    got = b.embed_torch(waves())
    assert got.shape == (3, 16) and np.allclose(got[1], want, atol=1e-5)
    ge2e = get_backbone("test-audio").embed_torch(waves()[:1])  # one window: the d-vector half, up to the norm
    assert ge2e.shape == (1, 8) and np.allclose(got[0, :8] / np.linalg.norm(got[0, :8]), ge2e[0], atol=1e-5)


def test_the_pooling_is_in_the_feature_cache_key_and_the_options() -> None:
    from headstart.features import feature_space_description

    last, mean = get_backbone("test-audio"), get_backbone("test-audio#pool=last+mean")
    assert last.options == {"pool": "last"} and get_backbone("test-audio#pool=last").options == last.options
    keys = [feature_space_description(b) for b in (last, mean)]
    assert keys[0]["preprocess"]["pool"] == "last" and keys[1]["preprocess"]["pool"] == "last+mean"
    assert keys[0] != keys[1] and keys[0]["weights_sha256"] == keys[1]["weights_sha256"]
    assert "averaged over" not in keys[0]["preprocess"]["pooling"]
    assert "averaged over the window's 160 frames" in keys[1]["preprocess"]["pooling"]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("test-audio#pool=max", "unknown pooling 'max'"),
        ("test-audio#pool", "bad option 'pool'"),
        ("test-cnn#pool=last", "does not accept"),
    ],
)
def test_bad_pooling_options_are_backbone_errors(name: str, words: str) -> None:
    from headstart.errors import BackboneError

    with pytest.raises(BackboneError, match=words):
        get_backbone(name)


def test_an_option_in_the_name_and_as_an_argument_must_agree() -> None:
    from headstart.errors import BackboneError

    assert get_backbone("test-audio#pool=last+mean", pool="last+mean").options == {"pool": "last+mean"}
    with pytest.raises(BackboneError, match="given twice"):
        get_backbone("test-audio#pool=last+mean", pool="last")


@pytest.mark.parametrize("stop", [1, 2, 3])
def test_pool_last_mean_prefix_runs_in_onnxruntime(stop: int) -> None:
    b = get_backbone("test-audio#pool=last+mean")
    inputs = b.preprocess(waves())
    for pooled in (True, False):
        onnx = FrozenRunner(b, stop=stop, pooled=pooled, threads=1)
        ref = FrozenRunner(b, stop=stop, pooled=pooled, engine="torch")
        got, want = onnx(inputs), ref(inputs)
        assert got.shape == want.shape and np.max(np.abs(got - want)) < 1e-4


@pytest.mark.skipif(not weights_installed(), reason="resemblyzer wheel not installed")
def test_voice_encoder_adds_window_means_by_default() -> None:
    """The default is `pool=last+mean` (512-d: each window's d-vector, then its lstm3 frame mean); `pool=last` is
    GE2E's 256-d d-vector, the default's first half for a one-window clip. Same weights; ONNX matches torch."""
    default, ge2e = get_backbone("voice-encoder"), get_backbone("voice-encoder#pool=last")
    assert default.options == {"pool": "last+mean"} and default.feature_dim == 512 and ge2e.feature_dim == 256
    assert default.weights_sha256 == ge2e.weights_sha256
    wavs = waves()
    got = default.embed_torch(wavs)
    assert got.shape == (3, 512) and np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    half = got[0, :256] / np.linalg.norm(got[0, :256])  # the 0.7 s tone: one window
    assert np.allclose(half, ge2e.embed_torch(wavs[:1])[0], atol=1e-5)
    onnx = FrozenRunner(default, pooled=True, threads=2)(default.preprocess(wavs))
    assert np.max(np.abs(onnx - got)) < 1e-4
