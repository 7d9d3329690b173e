"""FrozenRunner on the tiny backbones: ONNX parity with torch, cuts, export caching, engines."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from headstart import runtime
from headstart.backbones import get_backbone
from headstart.errors import BackboneError
from headstart.runtime import FrozenRunner

TEXTS = ["The team won the match!", "", "a much longer sentence with many more words than the others", "ok"]


def inputs_for(name: str, n: int = 5) -> dict[str, np.ndarray]:
    b = get_backbone(name)
    if b.modality == "text":
        return b.preprocess((TEXTS * 3)[:n])
    rng = np.random.default_rng(1)
    return b.preprocess([Image.fromarray(rng.integers(0, 255, (30 + i, 40, 3), dtype=np.uint8)) for i in range(n)])


@pytest.mark.parametrize("name", ["test-cnn", "test-text"])
@pytest.mark.parametrize("stop", [None, 1])
@pytest.mark.parametrize("pooled", [True, False])
def test_onnx_matches_torch(name: str, stop: int | None, pooled: bool) -> None:
    b = get_backbone(name)
    ort_runner = FrozenRunner(b, stop=stop, pooled=pooled)
    torch_runner = FrozenRunner(b, stop=stop, pooled=pooled, engine="torch")
    assert ort_runner.engine == "onnxruntime" and torch_runner.engine == "torch"
    for n in (1, 5):  # dynamic batch (and sequence length for text)
        x = inputs_for(name, n)
        got, want = ort_runner(x), torch_runner(x)
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-4)
    if pooled and stop is None:
        np.testing.assert_allclose(got, b.embed_torch((TEXTS * 3)[:5]) if b.modality == "text" else want, atol=1e-4)


def test_cut_shapes() -> None:
    x = inputs_for("test-cnn", 3)
    assert FrozenRunner(get_backbone("test-cnn"), stop=2, pooled=False)(x).shape == (3, 16, 8, 8)
    t = inputs_for("test-text", 3)
    assert FrozenRunner(get_backbone("test-text"), stop=2, pooled=False)(t).shape == (*t["input_ids"].shape, 16)


def test_export_is_reused() -> None:
    b = get_backbone("test-cnn")
    first = FrozenRunner(b, stop=3, pooled=True)
    assert first.onnx_path is not None and first.onnx_path.is_file()
    mtime, count = first.onnx_path.stat().st_mtime_ns, runtime.export_count
    second = FrozenRunner(b, stop=3, pooled=True, threads=1)
    assert second.onnx_path == first.onnx_path and not second.exported
    assert runtime.export_count == count and first.onnx_path.stat().st_mtime_ns == mtime
    assert not list(first.onnx_path.parent.glob("*.tmp.onnx"))  # atomic write leaves no temp files
    other = FrozenRunner(b, stop=2, pooled=True)
    assert other.onnx_path != first.onnx_path


def test_export_key_depends_on_weights_and_cut() -> None:
    b = get_backbone("test-cnn")
    keys = {runtime.export_key(b, 3, True), runtime.export_key(b, 2, True), runtime.export_key(b, 3, False)}
    assert len(keys) == 3


def test_bad_arguments() -> None:
    b = get_backbone("test-cnn")
    with pytest.raises(BackboneError, match="stop=0"):
        FrozenRunner(b, stop=0)
    with pytest.raises(BackboneError, match="stop=9"):
        FrozenRunner(b, stop=9)
    with pytest.raises(BackboneError, match="engine"):
        FrozenRunner(b, engine="tensorrt")  # type: ignore[arg-type]
    with pytest.raises(BackboneError, match="inputs lack"):
        FrozenRunner(b, engine="torch")({"pixels": np.zeros((1, 3, 32, 32), np.float32)})


def test_auto_engine_falls_back_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "onnxruntime_available", lambda: False)
    with pytest.warns(UserWarning, match="onnxruntime is not installed"):
        r = FrozenRunner(get_backbone("test-cnn"))
    assert r.engine == "torch" and r.degraded and r.onnx_path is None


def test_threads_default_to_cores() -> None:
    r = FrozenRunner(get_backbone("test-cnn"), engine="torch")
    assert r.threads == runtime.default_threads() >= 1


@pytest.mark.parametrize("name", ["test-cnn", "test-text"])
def test_multi_cut_runner_matches_one_runner_per_cut(name: str) -> None:
    b = get_backbone(name)
    stops = list(range(1, len(b.stages) + 1))
    multi = runtime.MultiCutRunner(b, stops[::-1])  # any order: cuts are sorted
    assert multi.stops == stops and multi.engine == "onnxruntime"
    for n in (1, 5):
        parts = multi.split(multi(inputs_for(name, n)))
        assert len(parts) == len(stops)
        for stop, got in zip(stops, parts, strict=True):
            want = FrozenRunner(b, stop=stop, pooled=True)(inputs_for(name, n))
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, atol=1e-5)
    assert multi.onnx_path != FrozenRunner(b, stop=stops[-1], pooled=True).onnx_path
    assert runtime.MultiCutRunner(b, stops[:1]).onnx_path != multi.onnx_path
    with pytest.raises(BackboneError):
        runtime.MultiCutRunner(b, [0, 1])
